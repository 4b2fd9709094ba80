"""The handler test tier: a service's own database, migrated, with units of work and no
broker and no HTTP. A test calls a handler the way a route or a subscriber would, then
asserts the rows and the events the handler wrote to the outbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel, col

from sikader_shared.clock import FixedClock
from sikader_shared.db import AuditRecord, OutboxRecord, make_engine, session_factory
from sikader_shared.envelope import Envelope, parse_envelope
from sikader_shared.events.base import EVENT_MODELS, Event
from sikader_shared.migrations import upgrade_head
from sikader_shared.testing.database import temporary_databases
from sikader_shared.uow import SYSTEM, Actor, UnitOfWork

START = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)  # 10:00 WITA, a weekday


class HandlerHarness:
    def __init__(self, service: str, url: str) -> None:
        self.service = service
        self.url = url
        self.engine = make_engine(url)
        self.sessions = session_factory(self.engine)
        self.clock = FixedClock(START)
        self._seen = 0  # outbox rows already returned by `new_events`

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def uow(self, actor: Actor = SYSTEM, causation: Envelope | None = None) -> UnitOfWork:
        """A unit of work as a route (actor) or a subscriber (the consumed event's envelope) opens it."""
        return UnitOfWork(
            self.sessions,
            service=self.service,
            clock=self.clock,
            outbox_signal=None,
            actor=actor,
            correlation_id=causation.correlation_id if causation else None,
            causation_id=causation.id if causation else None,
        )

    async def events(self) -> list[tuple[Envelope, Event]]:
        """Every event in the outbox, in the order written, as a consumer would read it."""
        async with self.sessions() as session:
            rows: Any = (await session.execute(select(OutboxRecord).order_by(col(OutboxRecord.seq)))).scalars()
            out = []
            for r in rows:
                env = parse_envelope(dict(r.headers))
                out.append((env, EVENT_MODELS[env.type].model_validate_json(r.payload)))
            return out

    async def new_events(self) -> list[Event]:
        """The events written since the last call."""
        every = await self.events()
        fresh, self._seen = every[self._seen :], len(every)
        return [event for _, event in fresh]

    async def rows(self, model: type[SQLModel], **equal: Any) -> list[Any]:
        async with self.sessions() as session:
            query = select(model)
            for name, value in equal.items():
                query = query.where(col(getattr(model, name)) == value)
            return list((await session.execute(query)).scalars())

    async def audit(self, entity_type: str, entity_id: str) -> list[dict[str, Any]]:
        rows = await self.rows(AuditRecord, entity_type=entity_type, entity_id=entity_id)
        return [{"action": r.action, "before": r.before, "after": r.after} for r in rows]

    async def close(self) -> None:
        await self.engine.dispose()


@asynccontextmanager
async def handler_harness(service: str, service_dir: Path, *, postgres: bool = False) -> AsyncIterator[HandlerHarness]:
    """A fresh database for `service`: SQLite, or PostgreSQL (TEST_DATABASE_URL, else the
    local server of `make postgres`; never SQLite instead) when the handler under test needs
    it (asyncpg paths, advisory locks, COPY)."""
    with temporary_databases(sqlite=not postgres, postgres=postgres) as make:
        url = make(service)
        await asyncio.to_thread(upgrade_head, service_dir, url)
        harness = HandlerHarness(service, url)
        try:
            yield harness
        finally:
            await harness.close()


def payload(event: Event) -> dict[str, Any]:
    """An event's JSON body as a consumer receives it."""
    result: dict[str, Any] = json.loads(event.model_dump_json())
    return result
