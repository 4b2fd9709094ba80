"""Unit of work: one database transaction that carries the state change, the events it
raised (outbox rows), the audit entries and, for HTTP writes, the idempotency record. The
relay is woken right after the commit."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.bulk import bulk_insert, copy_rows
from sikader_shared.clock import Clock
from sikader_shared.db import AuditRecord, OutboxRecord
from sikader_shared.envelope import Envelope, new_envelopes
from sikader_shared.events.base import Event

# From this many queued rows of one table, the flush writes them with COPY (PostgreSQL).
COPY_MIN_ROWS = 1000


@dataclass(frozen=True)
class Actor:
    """Who causes a change: an OPD client through one of its keys, or the system."""

    client_id: str
    key_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    label: str = ""  # the key's label (for a person's key, their name), as issued

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


SYSTEM = Actor(client_id="system")


class UnitOfWork:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        service: str,
        clock: Clock,
        outbox_signal: asyncio.Event | None,
        actor: Actor = SYSTEM,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> None:
        self._sessions = sessions
        self.service = service
        self.clock = clock
        self.actor = actor
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self._signal = outbox_signal
        self.emitted: list[tuple[Envelope, Event]] = []
        self._pending: defaultdict[type[SQLModel], list[dict[str, Any]]] = defaultdict(list)
        self._session: AsyncSession | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work not entered")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        await self._session.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is not None:
                self._pending.clear()
                await self.session.rollback()
        finally:
            await self.session.__aexit__(exc_type, exc, tb)
            self._session = None

    def emit(self, event: Event) -> Envelope:
        """Write the event to the outbox in this transaction (rows are inserted in bulk at
        flush/commit: building an ORM object per row costs more than the insert itself)."""
        return self.emit_many([event])[0]

    def emit_many(self, events: Sequence[Event]) -> list[Envelope]:
        """`emit` for events raised together (an import): one time and one header template."""
        stamped = new_envelopes(
            service=self.service,
            items=[(e.ce_type(), e.aggregate_id()) for e in events],
            time=self.clock.now(),
            actor=self.actor.client_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        rows = self._pending[OutboxRecord]
        for (env, headers), event in zip(stamped, events, strict=True):
            rows.append(
                {
                    "event_id": env.id,
                    "topic": event.topic,
                    "key": env.subject,
                    "ce_type": env.type,
                    "headers": headers,
                    "payload": event.model_dump_json(),
                    "created_at": env.time,
                    "published_at": None,
                }
            )
            self.emitted.append((env, event))
        return [env for env, _ in stamped]

    def audit(
        self,
        action: str,
        entity_type: str,
        entity_id: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
    ) -> None:
        self.audit_many(action, entity_type, [(entity_id, before, after)])

    def audit_many(
        self,
        action: str,
        entity_type: str,
        entries: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any] | None]],
    ) -> None:
        """Audit entries (entity id, before, after) of one action, in this transaction."""
        at, client, key, correlation = self.clock.now(), self.actor.client_id, self.actor.key_id, self.correlation_id
        self._pending[AuditRecord].extend(
            {
                "at": at,
                "actor_client": client,
                "actor_key": key,
                "action": action,
                "entity_type": entity_type,
                "entity_id": entity_id,
                "before": before,
                "after": after,
                "correlation_id": correlation,
            }
            for entity_id, before, after in entries
        )

    def add_rows(self, model: type[SQLModel], rows: list[dict[str, Any]]) -> None:
        """Queue plain rows (all with the same keys) for the bulk insert at flush, in the order
        the tables were first queued: no ORM object per row."""
        self._pending[model].extend(rows)

    async def flush(self) -> None:
        """Insert the queued rows (one statement per table, COPY for large batches), then
        flush the ORM session."""
        for model, rows in self._pending.items():
            table = model.__table__  # type: ignore[attr-defined]
            if len(rows) >= COPY_MIN_ROWS:
                await copy_rows(self.session, table, rows)
            elif rows:
                await bulk_insert(self.session, table, rows)
        self._pending.clear()
        await self.session.flush()

    async def commit(self) -> None:
        await self.flush()
        await self.session.commit()
        if self.emitted and self._signal is not None:
            self._signal.set()
