"""Documentation pages that work offline: Swagger UI from the bundled static files, and a
server-rendered AsyncAPI page (no JavaScript from a CDN)."""

from __future__ import annotations

import html
import json
import re
from typing import Any


def swagger_html(title: str) -> str:
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{html.escape(title)} - API docs</title>
<link rel="stylesheet" href="/static/swagger/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/static/swagger/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout", deepLinking: true}});
</script></body></html>"""


_STYLE = (
    "body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.4}"
    "pre{background:#f4f4f4;padding:.8em;overflow:auto;font-size:.85em}h2{border-bottom:1px solid #ccc}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .5em;"
    "text-align:left;vertical-align:top}th{background:#f0f0f0}code{background:#f4f4f4}"
    ".tag{font-size:.8em;background:#e8eef8;border-radius:3px;padding:0 .4em;margin-left:.3em}"
)


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _prose(value: Any) -> str:
    """Escaped text, with `code` spans as in the document's Markdown descriptions."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _esc(value))


def _anchor(kind: str, name: str) -> str:
    return f"{kind}-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _type_of(prop: dict[str, Any]) -> str:
    """A field's type in words, nested types linked to their section."""
    if "$ref" in prop:
        name = str(prop["$ref"]).rsplit("/", 1)[-1]
        return f"<a href='#{_anchor('schema', name)}'>{_esc(name)}</a>"
    if "anyOf" in prop or "oneOf" in prop:
        return " or ".join(_type_of(p) for p in prop.get("anyOf", prop.get("oneOf", [])))
    if "const" in prop:
        return f"<code>{_esc(json.dumps(prop['const']))}</code>"
    if "enum" in prop:
        return " / ".join(f"<code>{_esc(v)}</code>" for v in prop["enum"])
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    extra = [f"{k} {prop[k]}" for k in ("format", "pattern", "minimum", "maxLength") if k in prop]
    return _esc(kind + (f" ({', '.join(map(str, extra))})" if extra else ""))


def _fields_table(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    rows = "".join(
        f"<tr><td><code>{_esc(name)}</code></td><td>{_type_of(prop)}</td>"
        f"<td>{'yes' if name in required else 'no'}</td><td>{_prose(prop.get('description', ''))}</td></tr>"
        for name, prop in (schema.get("properties") or {}).items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr>{rows}</table>"


def _message_html(key: str, msg: dict[str, Any]) -> str:
    parts = [
        f"<h3 id='{_anchor('message', key)}'>{_esc(msg.get('title', key))}</h3>",
        f"<p>{_prose(msg.get('summary', ''))} {_prose(msg.get('description', ''))}</p>",
    ]
    kafka_key = ((msg.get("bindings") or {}).get("kafka") or {}).get("key") or {}
    if kafka_key:
        parts.append(f"<p><b>Kafka key</b>: {_prose(kafka_key.get('description', ''))}</p>")
    parts += ["<h4>Headers</h4>", _fields_table(msg.get("headers") or {}), "<h4>Body</h4>"]
    payload = msg.get("payload") or {}
    parts.append(_fields_table(payload) if "properties" in payload else f"<p>{_type_of(payload)}</p>")
    for example in msg.get("examples") or []:
        shown = {"headers": example.get("headers"), "body": example.get("payload")}
        parts.append(f"<h4>Example: {_esc(example.get('summary', ''))}</h4>")
        parts.append(f"<pre>{_esc(json.dumps(shown, indent=2, ensure_ascii=False))}</pre>")
    return "".join(parts)


def _channels_html(doc: dict[str, Any]) -> list[str]:
    parts = ["<h2>Channels</h2><table><tr><th>topic</th><th>partitions</th><th>messages</th><th></th></tr>"]
    for ch in (doc.get("channels") or {}).values():
        partitions = ((ch.get("bindings") or {}).get("kafka") or {}).get("partitions", "")
        links = ", ".join(
            f"<a href='#{_anchor('message', ref['$ref'].rsplit('/', 1)[-1])}'>{_esc(name)}</a>"
            for name, ref in (ch.get("messages") or {}).items()
        )
        tags = "".join(f"<span class='tag'>{_esc(t.get('name'))}</span>" for t in ch.get("tags") or [])
        parts.append(
            f"<tr><td><code>{_esc(ch.get('address'))}</code>{tags}<br><small>{_prose(ch.get('description', ''))}"
            f"</small></td><td>{_esc(partitions)}</td><td>{links}</td></tr>"
        )
    parts.append("</table><h2>Operations</h2><ul>")
    for op_id, op in (doc.get("operations") or {}).items():
        parts.append(
            f"<li><b>{_esc(op.get('action'))}</b> <code>{_esc(op_id)}</code>: {_prose(op.get('summary', ''))}</li>"
        )
    parts.append("</ul>")
    return parts


def asyncapi_html(doc: dict[str, Any]) -> str:
    """The AsyncAPI document as a page: servers, channels, operations, every message's headers,
    body fields and example, and the nested types. No script, no remote asset."""
    info = doc.get("info", {})
    components = doc.get("components") or {}
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(info.get('title', 'AsyncAPI'))}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>{_esc(info.get('title', ''))} <small>{_esc(info.get('version', ''))}</small></h1>",
        f"<p>AsyncAPI {_esc(doc.get('asyncapi', ''))} &middot; <a href='/asyncapi.json'>asyncapi.json</a></p>",
        "".join(f"<p>{_prose(p)}</p>" for p in str(info.get("description", "")).split("\n\n")),
        "<h2>Servers</h2><ul>",
    ]
    for name, server in (doc.get("servers") or {}).items():
        parts.append(
            f"<li><b>{_esc(name)}</b>: <code>{_esc(server.get('host'))}</code> ({_esc(server.get('protocol'))})"
            f" &mdash; {_prose(server.get('description', ''))}</li>"
        )
    for name, scheme in (components.get("securitySchemes") or {}).items():
        parts.append(
            f"<li>security <b>{_esc(name)}</b>: {_esc(scheme.get('type'))}, "
            f"{_prose(scheme.get('description', ''))}</li>"
        )
    parts.append("</ul>")
    parts += _channels_html(doc)
    parts.append("<h2>Messages</h2>")
    parts += [_message_html(key, msg) for key, msg in (components.get("messages") or {}).items()]
    parts.append("<h2>Nested types</h2>")
    for name, schema in (components.get("schemas") or {}).items():
        parts.append(
            f"<h3 id='{_anchor('schema', name)}'>{_esc(name)}</h3><p>{_prose(schema.get('description', ''))}</p>"
        )
        parts.append(_fields_table(schema) if "properties" in schema else f"<p>{_type_of(schema)}</p>")
    parts.append("</body></html>")
    return "".join(parts)
