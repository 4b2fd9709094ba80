"""Generates the reference parts of docs/integration.md from the code, so that they cannot
drift: the scope every route needs (from each service's OpenAPI) and an example message of
every event type (from sikader_shared.events.samples). They sit between marker comments;
the prose around them is written by hand.

    python scripts/integration_docs.py          # rewrite the generated parts
    python scripts/integration_docs.py --check  # exit 1 when they are stale (a test runs this)
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.samples import sample_message
from sikader_shared.service import create_service_app
from sikader_shared.topics import SERVICES

DOC = Path(__file__).resolve().parents[1] / "docs" / "integration.md"
PORTS = {"registry": 8001, "certification": 8002, "incentives": 8003, "notifications": 8004}
METHODS = ("get", "post", "put", "patch", "delete")


def _openapi(service: str) -> dict[str, Any]:
    wiring = importlib.import_module(f"{service}.app").WIRING
    spec: dict[str, Any] = create_service_app(wiring.definition()).openapi()
    return spec


def _first_sentence(text: str) -> str:
    text = text.split("**Scope:**")[0].strip()  # the scope line document_scopes appends
    first = " ".join(text.split("\n\n")[0].split())
    first = first.split(". ")[0].rstrip(".")
    return first.replace("|", "/")


def routes_table() -> str:
    lines = ["| service | method and path | scope | what |", "|---|---|---|---|"]
    for service in SERVICES:
        for path, item in sorted(_openapi(service)["paths"].items()):
            for method in METHODS:
                op = item.get(method)
                if op is None or "platform" in op.get("tags", []):
                    continue
                scopes = op.get("x-required-scopes")
                scope = "public (no key)" if scopes is None else ", ".join(f"`{s}`" for s in scopes) or "any valid key"
                summary = _first_sentence(op.get("description") or "") or op.get("summary", "")
                lines.append(f"| {service} :{PORTS[service]} | `{method.upper()} {path}` | {scope} | {summary} |")
    lines.append(
        "| every service | `GET /audit`, `GET /audit/pii-reads` | `audit:read` | the audit trail, the PII read log |"
    )
    lines.append("| every service | `GET /auth/whoami` | any valid key | the client, scopes and label of the key |")
    return "\n".join(lines)


def examples() -> str:
    parts = []
    for model in EVENT_MODELS.values():
        message = sample_message(model)
        headers = "\n".join(f"{name}: {value}" for name, value in message.headers.items())
        body = json.dumps(message.body, indent=2, ensure_ascii=False)
        parts.append(
            f"#### {model.ce_type()}\n\nTopic `{model.topic}`, key `{message.key}`.\n\n"
            f"```\n{headers}\n```\n\n```json\n{body}\n```"
        )
    return "\n\n".join(parts)


SECTIONS = {"routes": routes_table, "examples": examples}


def render(text: str) -> str:
    for name, build in SECTIONS.items():
        begin, end = f"<!-- generated:{name} -->", f"<!-- end generated:{name} -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise SystemExit(f"docs/integration.md has no {begin} marker")
        _old, found, tail = rest.partition(end)
        if not found:
            raise SystemExit(f"docs/integration.md has no {end} marker")
        text = f"{head}{begin}\n{build()}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/integration.md is stale")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the services' configs warn about keys a doc does not need
    current = DOC.read_text()
    fresh = render(current)
    if args.check:
        if fresh != current:
            print("docs/integration.md is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
