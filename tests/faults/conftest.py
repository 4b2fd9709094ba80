"""The fault tests are opt-in: they take minutes and stop and start PostgreSQL, the broker
and the services. They run with `make test-faults` (`pytest -m faults`) or
SIKADER_TEST_FAULTS=1; a plain `make test` skips them."""

from __future__ import annotations

import os

import pytest


def _selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    return ("faults" in markexpr and "not faults" not in markexpr) or os.environ.get("SIKADER_TEST_FAULTS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    reason = "fault tests are opt-in: `make test-faults` (pytest -m faults) or SIKADER_TEST_FAULTS=1"
    skip = pytest.mark.skip(reason=reason)
    for item in items:
        if item.get_closest_marker("faults") is not None:
            item.add_marker(skip)
