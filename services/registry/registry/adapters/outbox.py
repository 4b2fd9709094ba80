"""Bulk writes for the imports: many rows per statement, and events written to the outbox
exactly as `UnitOfWork.emit` writes them (same envelope and headers), without building an
ORM object per row. On PostgreSQL rows go in with COPY, on SQLite with one executemany; both
inside the unit of work's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, date
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Table

from sikader_shared.db import OutboxRecord
from sikader_shared.envelope import new_envelope
from sikader_shared.events.base import Event
from sikader_shared.uow import UnitOfWork

OUTBOX: Table = OutboxRecord.__table__
CHUNK = 5000


def outbox_rows(uow: UnitOfWork, events: Sequence[Event]) -> list[dict[str, Any]]:
    """The outbox rows `uow.emit` would write for `events` (one clock reading for all)."""
    now = uow.clock.now()
    template = new_envelope(
        service=uow.service,
        ce_type="",
        subject="",
        time=now,
        actor=uow.actor.client_id,
        correlation_id=uow.correlation_id,
        causation_id=uow.causation_id,
    )
    base = template.headers()
    rows = []
    for event in events:
        event_id = str(uuid.uuid4())
        # Same rule as new_envelope: without a correlation id, an event correlates with itself.
        correlation = uow.correlation_id or event_id
        ce_type, subject = event.ce_type(), event.aggregate_id()
        headers = {
            **base,
            "ce_id": event_id,
            "ce_type": ce_type,
            "ce_subject": subject,
            "ce_correlationid": correlation,
            "ce_causationid": uow.causation_id or correlation,
        }
        rows.append(
            {
                "event_id": event_id,
                "topic": event.topic,
                "key": subject,
                "ce_type": ce_type,
                "headers": headers,
                "payload": event.model_dump_json(),
                "created_at": now,
                "published_at": None,
            }
        )
    if events:
        uow.emitted.append((template, events[-1]))  # so the commit wakes the relay
    return rows


Converter = Callable[[Any], Any] | None  # None: the driver takes the value as it is


def _sqlite_converter(kind: Any) -> Converter:
    """What SQLAlchemy itself would store in SQLite for this column type."""
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v)
    if isinstance(kind, DateTime):
        last: list[Any] = [None, None]  # the imports repeat one timestamp: convert it once

        def timestamp(v: Any) -> Any:
            if v is None:
                return None
            if v is not last[0]:
                last[:] = [v, v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")]
            return last[1]

        return timestamp
    if isinstance(kind, Date):
        return lambda v: v.isoformat() if isinstance(v, date) else v
    if isinstance(kind, Boolean):
        return lambda v: None if v is None else int(bool(v))
    return None


def _pg_converter(kind: Any) -> Converter:
    if isinstance(kind, JSON):
        return lambda v: None if v is None else json.dumps(v)  # asyncpg takes json as text
    return None


def _tuples(
    table: Table, columns: list[str], rows: list[dict[str, Any]], make: Callable[[Any], Converter]
) -> list[Any]:
    """The rows as value tuples in `columns` order, converted where the column needs it
    (itemgetter picks the values in C: 100,000 cadres are ~5 million values)."""
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda row: (row[columns[0]],))
    converters = [(i, f) for i, c in enumerate(columns) if (f := make(table.c[c].type)) is not None]
    if not converters:
        return [pick(row) for row in rows]
    out = []
    for row in rows:
        values = list(pick(row))
        for i, f in converters:
            values[i] = f(values[i])
        out.append(tuple(values))
    return out


async def insert_many(uow: UnitOfWork, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert `rows` (dicts with the same keys) into `table` in this transaction."""
    if not rows:
        return
    columns = list(rows[0])
    connection = await uow.session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        records = _tuples(table, columns, rows, _pg_converter)
        await driver.copy_records_to_table(table.name, records=records, columns=columns)
        return
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'
    for start in range(0, len(rows), CHUNK):
        await connection.exec_driver_sql(sql, _tuples(table, columns, rows[start : start + CHUNK], _sqlite_converter))


async def emit_many(uow: UnitOfWork, events: Sequence[Event]) -> None:
    """Like `uow.emit` for each event, in order, in this transaction."""
    await insert_many(uow, OUTBOX, outbox_rows(uow, events))
