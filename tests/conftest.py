"""Fixtures shared by every test: a real broker, per-service databases, services started
in-process or as subprocesses (see sikader_shared.testing)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from sikader_shared.crypto import new_key
from sikader_shared.service import ServiceDefinition
from sikader_shared.settings import ServiceSettings
from sikader_shared.testing.broker import TestBroker, start_test_broker
from sikader_shared.testing.database import temporary_databases
from sikader_shared.testing.services import InProcessService, SubprocessService

# The tests' webhook receivers run on 127.0.0.1, which production refuses (server-side request
# forgery): allowed for every service the tests start, in-process or as a subprocess. The test
# of the refusal sets it back explicitly.
os.environ.setdefault("SIKADER_NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
# Every test client calls from 127.0.0.1: the per-address limits (public routes, failed
# authentication) are raised for the suite; tests/security/test_rate_limits.py sets them low.
os.environ.setdefault("SIKADER_RATE_LIMIT_PUBLIC_PER_MINUTE", "1000000")
os.environ.setdefault("SIKADER_RATE_LIMIT_AUTH_FAILURES_PER_MINUTE", "1000000")

CONTACT_KEY = new_key()
PAYMENT_KEY = new_key()

# Low-latency consumer settings for the local broker (see ../shared/notes/tansu.md).
FAST = {
    "fetch_max_wait_ms": 10,
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 300,
    "broker_check_interval_s": 0.5,
    "consumer_batch_timeout_ms": 20,
    "outbox_idle_poll_s": 0.3,
}


BROKER_STARTS: list[str] = []


@pytest.fixture(scope="session")
def session_broker() -> Iterator[TestBroker]:
    """The session's Apache Kafka (a JVM takes seconds to start), emptied before each test by
    `broker`; for the other kinds, the first test's broker."""
    b = start_test_broker()
    if b.kafka is not None:
        BROKER_STARTS.append(f"Apache Kafka {b.kafka.version} on {b.bootstrap}, ready in {b._extra['start_s']} s")
    yield b
    b.close()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in BROKER_STARTS:
        terminalreporter.write_line(f"test broker: {line}")


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Iterator[TestBroker]:
    """An empty broker for this test: the session's Apache Kafka after a reset, or a fresh
    Tansu (subprocess or container, which start in about a second)."""
    own = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("SIKADER_TEST_SKIP_APACHE_KAFKA") == "1"
    shared: TestBroker | None = None if own else request.getfixturevalue("session_broker")
    if shared is not None and shared.kafka is not None:
        asyncio.run(shared.reset())
        yield shared
        return
    b = start_test_broker()  # Tansu (or an external broker): one per test, as before
    yield b
    b.close()


@pytest.fixture
def databases() -> Iterator[Callable[[str], str]]:
    with temporary_databases() as make:
        yield make


def settings_for(
    cls: type[ServiceSettings], broker: TestBroker, database_url: str, **overrides: Any
) -> ServiceSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": broker.bootstrap,
        "contact_key": CONTACT_KEY,
        "payment_key": PAYMENT_KEY,
        **FAST,
        **overrides,
    }
    return cls(**values)


def subprocess_env(service: str, broker: TestBroker, database_url: str, var_dir: Path) -> dict[str, str]:
    prefix = f"SIKADER_{service.upper()}_"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        f"{prefix}DATABASE_URL": database_url,
        "SIKADER_VAR_DIR": str(var_dir),
        "SIKADER_CONTACT_KEY": CONTACT_KEY,
        "SIKADER_PAYMENT_KEY": PAYMENT_KEY,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")]),
    }
    env.update({k.upper(): str(v) for k, v in {f"SIKADER_{k}": v for k, v in FAST.items()}.items()})
    env.update({f"{prefix}{k.upper()}": str(v) for k, v in FAST.items()})
    return env


@pytest_asyncio.fixture
async def run_service() -> AsyncIterator[Callable[[ServiceDefinition], Any]]:
    """`await run_service(definition)` starts a service in-process; stopped at teardown."""
    started: list[InProcessService] = []

    async def start(definition: ServiceDefinition) -> InProcessService:
        svc = InProcessService(definition)
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in reversed(started):
        await svc.stop()


@pytest_asyncio.fixture
async def run_subprocess(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    started: list[SubprocessService] = []

    async def start(
        service: str, env: dict[str, str], migrate: bool = True, module: str | None = None
    ) -> SubprocessService:
        svc = SubprocessService(service, env, tmp_path / f"{service}-{len(started)}.log", module)
        if migrate:
            svc.migrate()
        await svc.start()
        started.append(svc)
        return svc

    yield start
    for svc in started:
        if svc.proc is not None and svc.proc.poll() is None:
            svc.kill()
