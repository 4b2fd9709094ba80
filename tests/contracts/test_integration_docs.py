"""docs/integration.md's generated parts (the scope of every route, an example message of every
event type) are what the code says today: `make docs` rewrites them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():  # scripts/ is not a package
    spec = importlib.util.spec_from_file_location("integration_docs", ROOT / "scripts" / "integration_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_generated_parts_of_docs_integration_md_are_fresh() -> None:
    assert _generator().main(["--check"]) == 0, "docs/integration.md is stale: run `make docs`"


def test_every_event_type_has_an_example_and_every_route_its_scope() -> None:
    text = (ROOT / "docs" / "integration.md").read_text()
    from sikader_shared.events import EVENT_MODELS

    for model in EVENT_MODELS.values():
        assert f"#### {model.ce_type()}" in text
    assert "| certification :8002 | `GET /certificates/{number}/verify` | public (no key) |" in text
    assert "`POST /posyandu/{posyandu_id}/verification` | `posyandu:verify`" in text
