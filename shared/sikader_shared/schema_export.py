"""Export the event models as JSON Schema, one file per event type and major version.

    python -m sikader_shared.schema_export            # (re)write schemas/<ce_type>.json
    python -m sikader_shared.schema_export --check    # exit 1 if the files are not up to date
    python -m sikader_shared.schema_export --release  # write, then copy into schemas/released/

`schemas/released/` is the released baseline: tests compare every current schema with it and
fail on an incompatible change within a major version (see `schema_compat`). `--release`
refuses to overwrite the baseline with an incompatible schema; publish a `.v2` type instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.base import Event
from sikader_shared.schema_compat import incompatibilities

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
RELEASED_DIRNAME = "released"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:sikader:schema:"

_RESTRICTED_TOPICS = frozenset(t.name for t in topics.CATALOGUE if t.restricted)


def schema_for(model: type[Event]) -> dict[str, Any]:
    """The published JSON Schema of one event model."""
    ce_type = model.ce_type()
    schema = model.model_json_schema()
    schema["$schema"] = JSON_SCHEMA_DIALECT
    schema["$id"] = f"{ID_PREFIX}{ce_type}"
    schema["title"] = ce_type
    schema["x-sikader"] = {
        "aggregate_field": model.aggregate_field,
        "ce_source": f"sikader/{model.service}",
        "ce_type": ce_type,
        "event_name": model.event_name,
        "restricted": model.topic in _RESTRICTED_TOPICS,
        "service": model.service,
        "topic": model.topic,
        "version": model.version,
    }
    return schema


def render(schema: dict[str, Any]) -> str:
    """Deterministic text: sorted keys, 2-space indent, trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build_schemas() -> dict[str, str]:
    """File name -> rendered schema, for every registered event model."""
    return {f"{ce_type}.json": render(schema_for(model)) for ce_type, model in sorted(EVENT_MODELS.items())}


def export(dest: Path = SCHEMA_DIR) -> list[str]:
    """Write the current schemas into `dest`, removing stale `*.json` files there (not in
    subdirectories). Returns the names of the files written or removed."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = build_schemas()
    touched: list[str] = []
    for name, text in wanted.items():
        path = dest / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            touched.append(name)
    for path in sorted(dest.glob("*.json")):
        if path.name not in wanted:
            path.unlink()
            touched.append(path.name)
    return touched


def check(dest: Path = SCHEMA_DIR) -> list[str]:
    """Differences between the models and the files in `dest`: one line per file that
    differs, is missing or is extra. Empty when up to date."""
    wanted = build_schemas()
    problems: list[str] = []
    for name, text in wanted.items():
        path = dest / name
        if not path.exists():
            problems.append(f"missing: {name}")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"differs: {name}")
    if dest.is_dir():
        for path in sorted(dest.glob("*.json")):
            if path.name not in wanted:
                problems.append(f"extra: {path.name}")
    return problems


def load_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """File name -> parsed schema for every `*.json` in `directory`."""
    if not directory.is_dir():
        return {}
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))}


def compare_with_released(current_dir: Path = SCHEMA_DIR, released_dir: Path | None = None) -> list[str]:
    """Incompatibilities of the schemas in `current_dir` with the released baseline: a
    released event type that disappeared, or an incompatible change of one."""
    released_dir = released_dir if released_dir is not None else current_dir / RELEASED_DIRNAME
    current = load_dir(current_dir)
    problems: list[str] = []
    for name, old in load_dir(released_dir).items():
        new = current.get(name)
        if new is None:
            problems.append(f"{name}: released event type removed")
            continue
        problems.extend(f"{name}: {p}" for p in incompatibilities(old, new))
    return problems


def release(current_dir: Path = SCHEMA_DIR, released_dir: Path | None = None) -> list[str]:
    """Copy the current schemas into the released baseline. Refuses (raises ValueError)
    when a current schema is incompatible with its released version."""
    released_dir = released_dir if released_dir is not None else current_dir / RELEASED_DIRNAME
    problems = compare_with_released(current_dir, released_dir)
    if problems:
        raise ValueError("incompatible with the released baseline:\n" + "\n".join(problems))
    released_dir.mkdir(parents=True, exist_ok=True)
    copied: list[str] = []
    for path in sorted(current_dir.glob("*.json")):
        target = released_dir / path.name
        if not target.exists() or target.read_bytes() != path.read_bytes():
            shutil.copyfile(path, target)
            copied.append(path.name)
    return copied


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sikader_shared.schema_export",
        description="Export the event models as JSON Schema files.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 if the files are not up to date")
    mode.add_argument("--release", action="store_true", help="export, then copy into the released baseline")
    parser.add_argument("--dir", type=Path, default=SCHEMA_DIR, help="schema directory")
    args = parser.parse_args(argv)
    dest: Path = args.dir

    if args.check:
        problems = check(dest)
        for line in problems:
            print(line)
        if problems:
            print(
                f"{len(problems)} schema file(s) out of date; run `python -m sikader_shared.schema_export`",
                file=sys.stderr,
            )
            return 1
        print(f"{len(EVENT_MODELS)} schemas up to date in {dest}")
        return 0

    for name in export(dest):
        print(f"wrote {name}" if (dest / name).exists() else f"removed {name}")
    if args.release:
        try:
            copied = release(dest)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 1
        for name in copied:
            print(f"released {name}")
        print(f"released baseline: {dest / RELEASED_DIRNAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
