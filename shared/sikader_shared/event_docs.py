"""Generate docs/events.md, the event catalogue for integrators, from the event models.

python -m sikader_shared.event_docs [--check] [--out docs/events.md]
"""

from __future__ import annotations

import argparse
import inspect
import sys
from pathlib import Path
from typing import Any

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.base import Event

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def _type_of(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " or ".join(_type_of(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " / ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    kind = str(prop.get("type", "any"))
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    fmt = prop.get("format")
    return f"{kind} ({fmt})" if fmt else kind


def _event_section(model: type[Event]) -> list[str]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    lines = [
        f"### {model.event_name} (v{model.version})",
        "",
        inspect.cleandoc(model.__doc__ or ""),
        "",
        f"`ce_type`: `{model.ce_type()}` · key / `ce_subject`: `{model.aggregate_field}` · "
        f"schema: `shared/sikader_shared/schemas/{model.ce_type()}.json`",
        "",
        "| field | type | required | description |",
        "|---|---|---|---|",
    ]
    for name, prop in schema.get("properties", {}).items():
        desc = str(prop.get("description", "")).replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{name}` | {_type_of(prop)} | {'yes' if name in required else 'no'} | {desc} |")
    lines.append("")
    return lines


def render() -> str:
    out = [
        "# Event catalogue",
        "",
        "Generated from the pydantic models in `shared/sikader_shared/events/` by",
        "`python -m sikader_shared.event_docs` (a test fails when it is out of date).",
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
            print(f"{args.out} is out of date: run python -m sikader_shared.event_docs", file=sys.stderr)
            return 1
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
