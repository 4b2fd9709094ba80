"""The handler test tier (`make test-handlers`, under 60 s): handlers called directly on the
service's migrated database, without a broker or HTTP; each test asserts the rows and the
outbox events. SQLite unless a test asks for PostgreSQL (`postgres_harness`)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest
import pytest_asyncio

from sikader_shared.testing.handlers import HandlerHarness, handler_harness

SERVICES = ("registry", "certification", "incentives", "notifications")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.handlers)


def _service_dir(service: str) -> Path:
    return importlib.import_module(f"{service}.app").SERVICE_DIR  # type: ignore[no-any-return]


@pytest.fixture
def harness_for() -> Callable[..., AbstractAsyncContextManager[HandlerHarness]]:
    """`async with harness_for("registry") as db:` (or `postgres=True`)."""

    def make(service: str, *, postgres: bool = False) -> AbstractAsyncContextManager[HandlerHarness]:
        assert service in SERVICES
        return handler_harness(service, _service_dir(service), postgres=postgres)

    return make


@pytest_asyncio.fixture
async def registry_db() -> AsyncIterator[HandlerHarness]:
    async with handler_harness("registry", _service_dir("registry")) as db:
        yield db


@pytest_asyncio.fixture
async def certification_db() -> AsyncIterator[HandlerHarness]:
    async with handler_harness("certification", _service_dir("certification")) as db:
        yield db


@pytest_asyncio.fixture
async def incentives_db() -> AsyncIterator[HandlerHarness]:
    async with handler_harness("incentives", _service_dir("incentives")) as db:
        yield db


@pytest_asyncio.fixture
async def incentives_pg() -> AsyncIterator[HandlerHarness]:
    """Incentives on PostgreSQL: its asyncpg statements, advisory locks and COPY."""
    async with handler_harness("incentives", _service_dir("incentives"), postgres=True) as db:
        yield db


@pytest_asyncio.fixture
async def notifications_db() -> AsyncIterator[HandlerHarness]:
    async with handler_harness("notifications", _service_dir("notifications")) as db:
        yield db
