"""Queries over the notifications tables (projections, kept events, subscriptions,
deliveries, broadcasts, opt-outs). The only module of the service that writes SQL."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from notifications.adapters.tables import (
    BroadcastRow,
    CadreRow,
    ContactRow,
    DeliveryRow,
    OptOutRow,
    PosyanduRow,
    ReceivedEventRow,
    SubscriptionRow,
)
from notifications.domain.deliveries import CADRE_RECIPIENTS
from sikader_shared.bulk import driver_connection
from sikader_shared.clock import utc
from sikader_shared.errors import Invalid
from sikader_shared.paging import after_key

# -- projections ------------------------------------------------------------------------------


async def head_cadre_of(session: AsyncSession, posyandu_id: str | None) -> str | None:
    """The Posyandu's head cadre: the 'ketua' of its management, else an active cadre whose
    role at it is 'ketua'."""
    if not posyandu_id:
        return None
    posyandu = await session.get(PosyanduRow, posyandu_id)
    if posyandu is not None and posyandu.head_cadre_id:
        return posyandu.head_cadre_id
    row = (
        await session.execute(
            select(col(CadreRow.cadre_id))
            .where(
                col(CadreRow.posyandu_id) == posyandu_id,
                col(CadreRow.posyandu_role) == "ketua",
                col(CadreRow.status) == "active",
            )
            .order_by(col(CadreRow.cadre_id))
            .limit(1)
        )
    ).first()
    return str(row[0]) if row else None


async def is_opted_out(session: AsyncSession, cadre_id: str, channel: str) -> bool:
    return await session.get(OptOutRow, (cadre_id, channel)) is not None


async def contact_of(session: AsyncSession, cadre_id: str) -> ContactRow | None:
    return await session.get(ContactRow, cadre_id)


async def active_cadres_in(
    session: AsyncSession, kecamatan_codes: Sequence[str], kelurahan_codes: Sequence[str]
) -> list[CadreRow]:
    """Active cadres in any of the areas (all of them without an area), by id."""
    query = select(CadreRow).where(col(CadreRow.status) == "active")
    if kecamatan_codes or kelurahan_codes:
        query = query.where(
            col(CadreRow.kecamatan_code).in_(list(kecamatan_codes))
            | col(CadreRow.kelurahan_code).in_(list(kelurahan_codes))
        )
    return list((await session.execute(query.order_by(col(CadreRow.cadre_id)))).scalars())


# -- kept events ------------------------------------------------------------------------------


async def cadres_by_id(session: AsyncSession, cadre_ids: Sequence[str]) -> list[CadreRow]:
    if not cadre_ids:
        return []
    return list((await session.execute(select(CadreRow).where(col(CadreRow.cadre_id).in_(list(cadre_ids))))).scalars())


async def kept_event_ids(session: AsyncSession, event_ids: Sequence[str]) -> set[str]:
    """Which of these events are kept already."""
    known = select(col(ReceivedEventRow.event_id)).where(col(ReceivedEventRow.event_id).in_(list(set(event_ids))))
    return set((await session.execute(known)).scalars().all())


async def next_event_seqs(session: AsyncSession, count: int) -> list[int]:
    """`count` sequence numbers for kept events, drawn in one statement, ascending (PostgreSQL;
    elsewhere none: each kept event then gets its own at its insert)."""
    if count <= 0 or session.get_bind().dialect.name != "postgresql":
        return []
    drawn = text("SELECT nextval(pg_get_serial_sequence('ntf_received_events', 'seq')) FROM generate_series(1, :n)")
    return sorted((await session.execute(drawn, {"n": count})).scalars().all())


async def kept_event(session: AsyncSession, event_id: str) -> ReceivedEventRow | None:
    query = select(ReceivedEventRow).where(col(ReceivedEventRow.event_id) == event_id)
    return (await session.execute(query)).scalar_one_or_none()


async def kept_events(
    session: AsyncSession, since: datetime, until: datetime | None, ce_types: Sequence[str]
) -> list[ReceivedEventRow]:
    """Kept events of the types from `since` (event time) up to `until`, in arrival order."""
    query = select(ReceivedEventRow).where(
        col(ReceivedEventRow.time) >= since, col(ReceivedEventRow.ce_type).in_(list(ce_types) or [""])
    )
    if until is not None:
        query = query.where(col(ReceivedEventRow.time) < until)
    return list((await session.execute(query.order_by(col(ReceivedEventRow.seq)))).scalars())


# -- subscriptions ----------------------------------------------------------------------------


async def subscriptions_for(session: AsyncSession, ce_type: str) -> list[SubscriptionRow]:
    """The subscriptions to a type. Read once per session (a consumer's batch of events is one
    session): JSON containment differs between SQLite and PostgreSQL, so the (few) rows are
    filtered in Python."""
    rows: Sequence[SubscriptionRow] | None = session.info.get("ntf.subscriptions")
    if rows is None:
        rows = session.info["ntf.subscriptions"] = (await session.execute(select(SubscriptionRow))).scalars().all()
    return [s for s in rows if ce_type in s.event_types]


def created_key(row: SubscriptionRow | BroadcastRow) -> list[str]:
    """The sort key of the subscription and broadcast lists, as a cursor holds it."""
    return [utc(row.created_at).isoformat(), row.id]


def _after_created(after: Sequence[Any] | None) -> tuple[datetime, str] | None:
    if after is None:
        return None
    try:
        created, row_id = after
        return datetime.fromisoformat(created), str(row_id)
    except (TypeError, ValueError) as exc:
        raise Invalid("cursor is not one for this list", field="cursor") from exc


async def subscriptions_of(
    session: AsyncSession, client_id: str, after: Sequence[Any] | None, limit: int
) -> list[SubscriptionRow]:
    """A client's subscriptions, oldest first, after the (created_at, id) key of a cursor."""
    order = (col(SubscriptionRow.created_at), col(SubscriptionRow.id))
    query = select(SubscriptionRow).where(col(SubscriptionRow.client_id) == client_id)
    keyset = after_key(order, _after_created(after))
    if keyset is not None:
        query = query.where(keyset)
    return list((await session.execute(query.order_by(*order).limit(limit))).scalars())


# -- deliveries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFilter:
    subscription_id: str | None = None
    source_event_id: str | None = None
    recipient_type: str | None = None
    status: str | None = None


def delivery_key(row: DeliveryRow) -> list[int]:
    """The sort key of the delivery lists, as a cursor holds it."""
    assert row.id is not None
    return [row.id]


async def deliveries(
    session: AsyncSession, where: DeliveryFilter, *, after: Sequence[Any] | None, offset: int, limit: int
) -> list[DeliveryRow]:
    """Deliveries in id order: after a cursor's key, or from `offset` (the older form)."""
    query = select(DeliveryRow)
    for name in ("subscription_id", "source_event_id", "recipient_type", "status"):
        value = getattr(where, name)
        if value:
            query = query.where(col(getattr(DeliveryRow, name)) == value)
    if after is not None:
        if len(after) != 1 or not isinstance(after[0], int) or isinstance(after[0], bool):
            raise Invalid("cursor is not one for this list", field="cursor")
        query = query.where(col(DeliveryRow.id) > after[0])
    elif offset:
        query = query.offset(offset)
    return list((await session.execute(query.order_by(col(DeliveryRow.id)).limit(limit))).scalars())


async def pending_deliveries_of_subscription(session: AsyncSession, subscription_id: str) -> list[DeliveryRow]:
    query = select(DeliveryRow).where(
        col(DeliveryRow.subscription_id) == subscription_id, col(DeliveryRow.status) == "pending"
    )
    return list((await session.execute(query)).scalars())


async def pending_cadre_messages(session: AsyncSession, cadre_id: str, channel: str) -> list[DeliveryRow]:
    query = select(DeliveryRow).where(
        col(DeliveryRow.recipient_type).in_(CADRE_RECIPIENTS),
        col(DeliveryRow.recipient_id) == cadre_id,
        col(DeliveryRow.channel) == channel,
        col(DeliveryRow.status) == "pending",
    )
    return list((await session.execute(query)).scalars())


# The heads' queries walk the pending rows in (seq, id) order through a partial index and stop
# at their limit. The planner cannot tell how many pending rows are heads (it guesses one) and
# would rather check them all and sort; sorting off for the transaction, as the outbox relay
# does for its backlog (and JIT off: the penalty of a sort it still costs would start it).
_WALK_IN_ORDER = "SELECT set_config('enable_sort', 'off', true), set_config('jit', 'off', true)"


async def due_heads(session: AsyncSession, now: datetime, limit: int, lane: str | None = None) -> list[tuple[int, str]]:
    """(id, lane) of due pending deliveries that head their (lane, aggregate) queue: nothing
    earlier for the same aggregate is still pending for that recipient. Deliveries of
    paused subscriptions are held."""
    d = DeliveryRow.__table__  # type: ignore[attr-defined]
    e = aliased(d)
    earlier = (
        select(e.c.id)
        .where(
            e.c.lane == d.c.lane,
            e.c.aggregate_key == d.c.aggregate_key,
            e.c.status == "pending",
            or_(e.c.seq < d.c.seq, and_(e.c.seq == d.c.seq, e.c.id < d.c.id)),
        )
        .correlate(d)
    )
    paused = select(col(SubscriptionRow.id)).where(col(SubscriptionRow.status) == "paused")
    query = select(d.c.id, d.c.lane).where(
        d.c.status == "pending",
        d.c.next_attempt_at <= now,
        ~exists(earlier),
        or_(d.c.subscription_id.is_(None), d.c.subscription_id.not_in(paused)),
    )
    if lane is not None:
        query = query.where(d.c.lane == lane)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text(_WALK_IN_ORDER))
    rows = (await session.execute(query.order_by(d.c.seq, d.c.id).limit(limit))).all()
    return [(int(r[0]), str(r[1])) for r in rows]


async def claim_attempt(
    session: AsyncSession, delivery_id: int, attempts_seen: int, now: datetime, lease: timedelta
) -> bool:
    """Count the attempt and lease the row, only if no other worker did since it was read:
    two workers never make the same attempt."""
    claimed = await session.execute(
        update(DeliveryRow)
        .where(
            col(DeliveryRow.id) == delivery_id,
            col(DeliveryRow.status) == "pending",
            col(DeliveryRow.attempts) == attempts_seen,
        )
        .values(attempts=attempts_seen + 1, last_attempt_at=now, next_attempt_at=now + lease)
    )
    return getattr(claimed, "rowcount", 0) == 1


async def claim_attempts(
    session: AsyncSession, delivery_ids: Sequence[int], now: datetime, lease: timedelta
) -> dict[int, int]:
    """Count an attempt and lease each row still pending and due, in one statement: id ->
    its attempt number. A row another worker claimed meanwhile is leased into the future, so
    it fails the `next_attempt_at` guard (PostgreSQL re-checks it after the row lock)."""
    if not delivery_ids:
        return {}
    claimed = await session.execute(
        update(DeliveryRow)
        .where(
            col(DeliveryRow.id).in_(list(delivery_ids)),
            col(DeliveryRow.status) == "pending",
            col(DeliveryRow.next_attempt_at) <= now,
        )
        .values(attempts=col(DeliveryRow.attempts) + 1, last_attempt_at=now, next_attempt_at=now + lease)
        .returning(col(DeliveryRow.id), col(DeliveryRow.attempts))
        .execution_options(synchronize_session=False)
    )
    return {int(r[0]): int(r[1]) for r in claimed.all()}


async def deliveries_by_id(session: AsyncSession, delivery_ids: Sequence[int]) -> list[DeliveryRow]:
    """The rows, fresh from the database (one statement), in id order."""
    if not delivery_ids:
        return []
    query = (
        select(DeliveryRow)
        .where(col(DeliveryRow.id).in_(list(delivery_ids)))
        .order_by(col(DeliveryRow.id))
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(query)).scalars())


async def kept_events_by_id(session: AsyncSession, event_ids: Sequence[str]) -> dict[str, ReceivedEventRow]:
    if not event_ids:
        return {}
    query = select(ReceivedEventRow).where(col(ReceivedEventRow.event_id).in_(list(set(event_ids))))
    rows: Sequence[ReceivedEventRow] = (await session.execute(query)).scalars().all()
    return {r.event_id: r for r in rows}


# Webhook lanes on PostgreSQL: a batch claimed (its heads, then one UPDATE returning them with
# their kept events) and its outcomes recorded (one statement) straight through asyncpg: plain
# rows, no ORM object per delivery.

_WEBHOOK_HEADS = """
SELECT d.id FROM ntf_deliveries d
WHERE d.lane = $1 AND d.status = 'pending' AND d.next_attempt_at <= $2
  AND NOT EXISTS (
      SELECT 1 FROM ntf_deliveries e
      WHERE e.lane = d.lane AND e.aggregate_key = d.aggregate_key AND e.status = 'pending'
        AND (e.seq < d.seq OR (e.seq = d.seq AND e.id < d.id)))
  AND NOT EXISTS (SELECT 1 FROM ntf_subscriptions s WHERE s.id = d.subscription_id AND s.status = 'paused')
ORDER BY d.seq, d.id
LIMIT $3
"""

# By id (the primary key), apart from the heads' query: joined to it, the planner could pick
# the partial index (seq, id) for the ids with the statistics of a table that just filled up.
_CLAIM_WEBHOOKS = """
WITH claimed AS (
    UPDATE ntf_deliveries d
    SET attempts = d.attempts + 1, last_attempt_at = $2, next_attempt_at = $3
    WHERE d.id = ANY($1::bigint[]) AND d.status = 'pending' AND d.next_attempt_at <= $2
    RETURNING d.id, d.attempts, d.notification_id, d.source_event_id, d.seq
)
SELECT c.id, c.attempts, c.notification_id, c.source_event_id, r.headers, r.payload
FROM claimed c LEFT JOIN ntf_received_events r ON r.event_id = c.source_event_id
ORDER BY c.seq, c.id
"""

_RECORD_OUTCOMES = """
UPDATE ntf_deliveries d
SET status = u.status, last_error = u.last_error,
    next_attempt_at = COALESCE(u.next_attempt_at, d.next_attempt_at),
    delivered_at = COALESCE(u.delivered_at, d.delivered_at),
    failed_at = COALESCE(u.failed_at, d.failed_at)
FROM unnest($1::bigint[], $2::integer[], $3::varchar[], $4::text[], $5::timestamptz[], $6::timestamptz[],
            $7::timestamptz[]) AS u(id, attempts, status, last_error, next_attempt_at, delivered_at, failed_at)
WHERE d.id = u.id AND d.status = 'pending' AND d.attempts = u.attempts
RETURNING d.id, d.notification_id, d.source_event_id, d.source_event_type, d.channel, d.recipient_type,
          d.recipient_id, d.subscription_id, d.broadcast_id, d.template
"""

OUTCOME_FACTS = (
    "notification_id",
    "source_event_id",
    "source_event_type",
    "channel",
    "recipient_type",
    "recipient_id",
    "subscription_id",
    "broadcast_id",
    "template",
)


@dataclass(frozen=True)
class ClaimedWebhook:
    """A claimed webhook delivery with its kept event (None when it was not kept)."""

    id: int
    attempts: int
    notification_id: str
    source_event_id: str | None
    headers: dict[str, str] | None
    payload: str | None


@dataclass(frozen=True)
class OutcomeRow:
    """The new state of an attempted delivery (None: unchanged)."""

    id: int
    attempts: int  # the attempt's number: recorded only if no later attempt took over
    status: str
    last_error: str | None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None


async def claim_webhook_heads(
    session: AsyncSession, lane: str, now: datetime, limit: int, lease: timedelta
) -> list[ClaimedWebhook] | None:
    """Claim up to `limit` due heads of a webhook lane (one per aggregate key), each with its
    kept event: an attempt counted and the row leased, as `claim_attempts` does (a head
    another worker claimed meanwhile fails the due guard). None when the database is not
    PostgreSQL."""
    driver = await driver_connection(session)
    if driver is None:
        return None
    await driver.execute(_WALK_IN_ORDER)
    heads = [r[0] for r in await driver.fetch(_WEBHOOK_HEADS, lane, now, limit)]
    if not heads:
        return []
    rows = await driver.fetch(_CLAIM_WEBHOOKS, heads, now, now + lease)
    return [ClaimedWebhook(int(r[0]), int(r[1]), r[2], r[3], _json(r[4]), r[5]) for r in rows]


def _json(value: Any) -> Any:
    """A JSON column's value as asyncpg hands it over (text, unless a codec decoded it)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


async def skip_deliveries(session: AsyncSession, delivery_ids: Sequence[int], reason: str) -> None:
    if delivery_ids:
        await session.execute(
            update(DeliveryRow)
            .where(col(DeliveryRow.id).in_(list(delivery_ids)))
            .values(status="skipped", last_error=reason)
            .execution_options(synchronize_session=False)
        )


async def record_outcomes(session: AsyncSession, outcomes: Sequence[OutcomeRow]) -> dict[int, dict[str, Any]] | None:
    """Store attempts' outcomes in one statement, each only if the delivery is still pending
    at that attempt (a lease that ran out let another attempt take over): id -> the facts
    its outcome event carries, for the rows stored. None when the database is not PostgreSQL."""
    driver = await driver_connection(session)
    if driver is None:
        return None
    columns = [[getattr(o, name) for o in outcomes] for name in OutcomeRow.__dataclass_fields__]
    rows = await driver.fetch(_RECORD_OUTCOMES, *columns)
    return {int(r[0]): dict(zip(OUTCOME_FACTS, r[1:], strict=True)) for r in rows}


# -- broadcasts -------------------------------------------------------------------------------


async def status_counts(session: AsyncSession, *where: Any) -> dict[str, int]:
    rows = (
        await session.execute(
            select(col(DeliveryRow.status), func.count()).where(*where).group_by(col(DeliveryRow.status))
        )
    ).all()
    counts = {"pending": 0, "delivered": 0, "failed": 0, "skipped": 0}
    counts.update({str(s): int(str(n)) for s, n in rows})
    return counts


async def broadcast_progress(session: AsyncSession, broadcast_id: str) -> dict[str, int]:
    """A broadcast's messages by state."""
    return await status_counts(session, col(DeliveryRow.broadcast_id) == broadcast_id)


async def finished_broadcasts(session: AsyncSession) -> Sequence[BroadcastRow]:
    pending = select(col(DeliveryRow.id)).where(
        col(DeliveryRow.broadcast_id) == BroadcastRow.id, col(DeliveryRow.status) == "pending"
    )
    result = await session.execute(select(BroadcastRow).where(col(BroadcastRow.status) == "sending", ~exists(pending)))
    return result.scalars().all()


async def broadcasts_of(
    session: AsyncSession, client_id: str, after: Sequence[Any] | None, limit: int
) -> list[BroadcastRow]:
    """A client's broadcasts, oldest first, after the (created_at, id) key of a cursor."""
    order = (col(BroadcastRow.created_at), col(BroadcastRow.id))
    query = select(BroadcastRow).where(col(BroadcastRow.client_id) == client_id)
    keyset = after_key(order, _after_created(after))
    if keyset is not None:
        query = query.where(keyset)
    return list((await session.execute(query.order_by(*order).limit(limit))).scalars())


# -- consent ----------------------------------------------------------------------------------


async def add_opt_out(session: AsyncSession, cadre_id: str, channel: str, at: datetime) -> bool:
    """Insert-if-absent in one statement: two clicks at once (or a mail scanner fetching the
    link as the cadre clicks it) must both succeed, not race into a duplicate key (500).
    True when this call added it."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    added = await session.execute(
        insert(OptOutRow.__table__)  # type: ignore[attr-defined]
        .values(cadre_id=cadre_id, channel=channel, at=at)
        .on_conflict_do_nothing()
    )
    return bool(getattr(added, "rowcount", 0))
