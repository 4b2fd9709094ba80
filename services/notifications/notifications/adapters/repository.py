"""Queries over the notifications tables (projections, deliveries, broadcasts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, select
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
    SubscriptionRow,
)


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


async def subscriptions_for(session: AsyncSession, ce_type: str) -> list[SubscriptionRow]:
    # JSON containment differs between SQLite and PostgreSQL: filter the (few) rows in Python.
    rows: Sequence[SubscriptionRow] = (await session.execute(select(SubscriptionRow))).scalars().all()
    return [s for s in rows if ce_type in s.event_types]


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
    rows = (await session.execute(query.order_by(d.c.seq, d.c.id).limit(limit))).all()
    return [(int(r[0]), str(r[1])) for r in rows]


async def status_counts(session: AsyncSession, *where: Any) -> dict[str, int]:
    rows = (
        await session.execute(
            select(col(DeliveryRow.status), func.count()).where(*where).group_by(col(DeliveryRow.status))
        )
    ).all()
    counts = {"pending": 0, "delivered": 0, "failed": 0, "skipped": 0}
    counts.update({str(s): int(str(n)) for s, n in rows})
    return counts


async def finished_broadcasts(session: AsyncSession) -> Sequence[BroadcastRow]:
    pending = select(col(DeliveryRow.id)).where(
        col(DeliveryRow.broadcast_id) == BroadcastRow.id, col(DeliveryRow.status) == "pending"
    )
    result = await session.execute(select(BroadcastRow).where(col(BroadcastRow.status) == "sending", ~exists(pending)))
    return result.scalars().all()
