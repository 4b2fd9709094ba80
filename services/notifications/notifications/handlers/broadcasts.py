"""Programme announcements to cadres by area and role, paced, with their progress and, once
nothing is pending, their final tally."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from notifications.adapters import repository as repo
from notifications.adapters.tables import BroadcastRow, CadreRow
from notifications.config import NotificationsConfig
from notifications.domain.schedule import broadcast_slot
from notifications.handlers.deliveries import new_delivery, new_message_state
from sikader_shared.errors import Invalid, NotFound
from sikader_shared.uow import Actor, UnitOfWork


def _rate(config: NotificationsConfig, rate_per_minute: int | None) -> int:
    settings = config.settings
    rate = rate_per_minute or settings.broadcast_default_rate_per_minute
    if rate > settings.broadcast_max_rate_per_minute:
        raise Invalid(
            f"rate_per_minute may be at most {settings.broadcast_max_rate_per_minute}", field="rate_per_minute"
        )
    return rate


def _has_role(cadre: CadreRow, roles: Sequence[str]) -> bool:
    """A role matches the cadre's roles or role at the Posyandu (e.g. 'ketua'); none: everyone."""
    return not roles or bool(set(roles) & ({*cadre.roles, cadre.posyandu_role} - {None}))


async def start_broadcast(
    uow: UnitOfWork,
    config: NotificationsConfig,
    title: str,
    message: str,
    channels: Sequence[str],
    kecamatan_codes: Sequence[str],
    kelurahan_codes: Sequence[str],
    roles: Sequence[str],
    rate_per_minute: int | None,
) -> dict[str, Any]:
    """Address every active cadre in the area with one of the roles, paced at `rate_per_minute`."""
    rate = _rate(config, rate_per_minute)
    cadres = [
        c for c in await repo.active_cadres_in(uow.session, kecamatan_codes, kelurahan_codes) if _has_role(c, roles)
    ]
    broadcast = BroadcastRow(
        id=str(uuid.uuid4()),
        client_id=uow.actor.client_id,
        title=title,
        message=message,
        channels=list(dict.fromkeys(channels)),
        kecamatan_codes=list(kecamatan_codes),
        kelurahan_codes=list(kelurahan_codes),
        roles=list(roles),
        rate_per_minute=rate,
        recipients=len(cadres),
        status="sending",
        created_at=uow.clock.now(),
    )
    uow.session.add(broadcast)
    messages = await _queue_messages(uow, config, broadcast, cadres)
    uow.audit(
        "broadcast.start",
        "broadcast",
        broadcast.id,
        None,
        {"title": title, "recipients": len(cadres), "channels": broadcast.channels},
    )
    return {"id": broadcast.id, "recipients": len(cadres), "messages": messages, "status": "sending"}


async def _queue_messages(
    uow: UnitOfWork, config: NotificationsConfig, broadcast: BroadcastRow, cadres: Sequence[CadreRow]
) -> int:
    """A message per cadre and channel; each one to send gets the next slot of the pace.
    Returns the number to send (the rest are skipped: opted out, no address)."""
    now: datetime = broadcast.created_at
    index = 0
    for cadre in cadres:
        for channel in broadcast.channels:
            state = await new_message_state(uow, config, "cadre", cadre.cadre_id, channel, now)
            row = new_delivery(
                source_key=f"broadcast:{broadcast.id}",
                recipient_type="cadre",
                recipient_id=cadre.cadre_id,
                channel=channel,
                lane=f"cadre:{cadre.cadre_id}:{channel}",
                aggregate_key=f"broadcast:{broadcast.id}",
                seq=index,
                now=now,
                broadcast_id=broadcast.id,
                template="broadcast",
            )
            row.status, row.last_error = state.status, state.reason
            if state.status == "pending":
                row.next_attempt_at = max(state.first_attempt_at, broadcast_slot(now, index, broadcast.rate_per_minute))
                index += 1
            uow.session.add(row)
    return index


async def complete_broadcasts(uow: UnitOfWork) -> int:
    """A broadcast with nothing pending is done: keep its final tally. Returns how many."""
    done = await repo.finished_broadcasts(uow.session)
    for broadcast in done:
        broadcast.tally = await repo.broadcast_progress(uow.session, broadcast.id)
        broadcast.status, broadcast.completed_at = "completed", uow.clock.now()
        uow.session.add(broadcast)
    return len(done)


async def get_broadcast(session: AsyncSession, actor: Actor, broadcast_id: str) -> tuple[BroadcastRow, dict[str, int]]:
    """A broadcast of the caller's with its progress (messages by state, now)."""
    row = await session.get(BroadcastRow, broadcast_id)
    if row is None or (row.client_id != actor.client_id and not actor.has("admin")):
        raise NotFound(f"no broadcast {broadcast_id}")
    return row, await repo.broadcast_progress(session, row.id)


def page_key(row: BroadcastRow) -> list[str]:
    """The list's sort key of a row, as a cursor holds it."""
    return repo.created_key(row)


async def list_broadcasts(
    session: AsyncSession, actor: Actor, after: Sequence[Any] | None, limit: int
) -> list[tuple[BroadcastRow, dict[str, int]]]:
    """The caller's own broadcasts, oldest first, each with its progress."""
    rows = await repo.broadcasts_of(session, actor.client_id, after, limit)
    return [(row, await repo.broadcast_progress(session, row.id)) for row in rows]
