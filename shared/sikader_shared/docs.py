"""Documentation pages that work offline: Swagger UI from the bundled static files, and a
server-rendered AsyncAPI page (no JavaScript from a CDN)."""

from __future__ import annotations

import html
import json
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


def asyncapi_html(doc: dict[str, Any]) -> str:
    info = doc.get("info", {})
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{esc(str(info.get('title', 'AsyncAPI')))}</title>",
        "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
        "pre{background:#f4f4f4;padding:1em;overflow:auto}h2{border-bottom:1px solid #ccc}</style>",
        "</head><body>",
        f"<h1>{esc(str(info.get('title', '')))} <small>{esc(str(info.get('version', '')))}</small></h1>",
        f"<p>AsyncAPI {esc(str(doc.get('asyncapi', '')))} &middot; <a href='/asyncapi.json'>asyncapi.json</a></p>",
    ]
    for name, server in (doc.get("servers") or {}).items():
        parts.append(f"<p>Server <b>{esc(name)}</b>: {esc(json.dumps(server))}</p>")
    channels = doc.get("channels") or {}
    operations = doc.get("operations") or {}
    parts.append("<h2>Operations</h2><ul>")
    for op_name, op in operations.items():
        parts.append(f"<li><b>{esc(str(op.get('action', '')))}</b> {esc(op_name)}</li>")
    parts.append("</ul><h2>Channels</h2>")
    for ch_name, ch in channels.items():
        parts.append(f"<h3>{esc(ch_name)}</h3><p>address: <code>{esc(str(ch.get('address', '')))}</code></p>")
        if ch.get("description"):
            parts.append(f"<p>{esc(str(ch['description']))}</p>")
    schemas = (doc.get("components") or {}).get("schemas") or {}
    parts.append("<h2>Message schemas</h2>")
    for sname, schema in schemas.items():
        parts.append(f"<h3 id='{esc(sname)}'>{esc(sname)}</h3><pre>{esc(json.dumps(schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return "".join(parts)
