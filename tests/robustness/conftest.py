"""Fixtures for the robustness tests: the four services on one real broker and PostgreSQL,
each run in its own thread's event loop so that synchronous callers (schemathesis and
Hypothesis drive requests with `requests`) can reach them over real HTTP."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from sikader_shared.auth import issue_key
from sikader_shared.migrations import upgrade_head
from sikader_shared.service import ServiceDefinition
from sikader_shared.testing.broker import TestBroker, start_test_broker
from sikader_shared.testing.database import temporary_databases
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor

T = TypeVar("T")
_MIGRATIONS = threading.Lock()
ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))

# Filled by the tests, printed at the end of the run: how many cases each check ran.
CASES: dict[str, int] = {}


class ThreadedService:
    """An InProcessService (uvicorn + consumer + relay) in a background event loop."""

    def __init__(self, make_definition: Callable[[], ServiceDefinition]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.service: InProcessService = self.run(self._start(make_definition))

    async def _start(self, make_definition: Callable[[], ServiceDefinition]) -> InProcessService:
        # The runtime's asyncio objects are created inside the loop that will use them.
        svc = InProcessService(make_definition())

        def migrate() -> None:
            with _MIGRATIONS:  # alembic's `context` is process-global: one migration at a time
                upgrade_head(svc.definition.service_dir, svc.definition.settings.effective_database_url())

        await asyncio.to_thread(migrate)
        return await svc.start(migrate=False)

    @property
    def url(self) -> str:
        return self.service.url

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def issue(self, client: str, scopes: list[str]) -> str:
        async def go() -> str:
            async with self.service.runtime.uow(actor=ADMIN) as uow:
                _, key = await issue_key(uow, client, scopes)
                await uow.commit()
            return key

        return self.run(go())

    def close(self) -> None:
        try:
            self.run(self.service.stop(), timeout=60)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()


@pytest.fixture(scope="module")
def module_broker() -> Iterator[TestBroker]:
    b = start_test_broker()
    yield b
    b.close()


@pytest.fixture(scope="module")
def module_databases() -> Iterator[Callable[[str], str]]:
    with temporary_databases() as make:
        yield make


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CASES:
        terminalreporter.write_line(
            "robustness cases run: " + ", ".join(f"{name}={count}" for name, count in sorted(CASES.items()))
        )
