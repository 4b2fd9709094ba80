"""Generate docs/events.md, the event catalogue for integrators, from the event models: the
fields of every event and of the nested types, and an example message (key, headers, body)
of every event from `events.samples`.

python -m sikader_shared.event_docs [--check] [--out docs/events.md]
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.base import Event
from sikader_shared.events.samples import sample_message

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _type_of(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    fmt = prop.get("format")
    return f"{kind} ({fmt})" if fmt else kind


def _fields_table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, prop in schema.get("properties", {}).items():
        desc = str(prop.get("description", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_of(prop)} | {'yes' if name in required else 'no'} | {desc} |")
    return lines


def _example(model: type[Event]) -> list[str]:
    message = sample_message(model)
    shown = {"key": message.key, "headers": message.headers, "body": message.body}
    return [
        "Example message (key, headers, body):",
        "",
        "```json",
        json.dumps(shown, indent=2, ensure_ascii=False),
        "```",
    ]


def _event_section(model: type[Event]) -> list[str]:
    schema = model.model_json_schema()
    lines = [
        f"### {model.event_name} (v{model.version})",
        "",
        inspect.cleandoc(model.__doc__ or ""),
        "",
        f"`ce_type`: `{model.ce_type()}` · key / `ce_subject`: `{model.aggregate_field}` · "
        f"schema: `shared/sikader_shared/schemas/{model.ce_type()}.json`",
        "",
        *_fields_table(schema),
        "",
        *_example(model),
        "",
    ]
    return lines


def _nested_types() -> list[str]:
    """The types inside event bodies (reasons, equipment items, roles...), once each."""
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for model in EVENT_MODELS.values():
        for name, schema in model.model_json_schema().get("$defs", {}).items():
            found.setdefault(name, (schema, []))[1].append(model.event_name)
    out = ["## Nested types", ""]
    for name, (schema, used_in) in sorted(found.items()):
        out += [f"### {name}", "", inspect.cleandoc(str(schema.get("description", ""))), ""]
        out += [f"Used in: {', '.join(sorted(used_in))}.", "", *_fields_table(schema), ""]
    return out


def _dead_letters() -> list[str]:
    from sikader_shared.asyncapi import dead_letter_headers

    topic_list = ", ".join(f"`{topics.dlq_topic(s)}`" for s in topics.SERVICES)
    return [
        "## Dead-letter topics",
        "",
        f"{topic_list}: a message a service's consumer gave up on, with its original key, headers and",
        "body and these headers (not readable by agencies). A body too large for the DLQ topic is",
        "replaced by a reference (`dlq_body_omitted`, the origin topic, partition, offset, size and sha256).",
        "",
        *_fields_table(dead_letter_headers()),
        "",
    ]


def render() -> str:
    out = [
        "# Event catalogue",
        "",
        "Generated from the pydantic models in `shared/sikader_shared/events/` and their samples",
        "(`events/samples.py`) by `make asyncapi` (`python -m sikader_shared.event_docs`; a test fails",
        "when it is out of date). The same contract as AsyncAPI 3.0: [asyncapi.json](asyncapi.json).",
        "Envelope, keys, ordering and consumer rules: see [integration.md](integration.md).",
        "",
    ]
    for spec in topics.CATALOGUE:
        models = sorted(
            (m for m in EVENT_MODELS.values() if m.topic == spec.name), key=lambda m: (m.event_name, m.version)
        )
        out += [f"## `{spec.name}`", "", spec.description + (" **(restricted)**" if spec.restricted else ""), ""]
        for model in models:
            out += _event_section(model)
    out += _nested_types() + _dead_letters()
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
