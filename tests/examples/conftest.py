"""The examples' tests are opt-in: they need the examples built (Maven, Go, npm), which
`make test-examples` does before running `pytest -m examples`; a plain `make test` skips them
(or SIKADER_TEST_EXAMPLES=1 selects them, built beforehand)."""

from __future__ import annotations

import os

import pytest


def _selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    return ("examples" in markexpr and "not examples" not in markexpr) or os.environ.get("SIKADER_TEST_EXAMPLES") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(reason="examples are opt-in: `make test-examples` (builds them, then pytest -m examples)")
    for item in items:
        if item.get_closest_marker("examples") is not None:
            item.add_marker(skip)
