"""Deliveries: a new delivery's row and first state, and the two ends of one attempt (the
worker in entrypoints/jobs.py sends in between, outside any transaction).

One attempt: (1) `start_attempt` claims the row in a short transaction (attempts + 1, a
lease in next_attempt_at, guarded by the attempts count seen, so two workers never send the
same attempt); (2) the worker sends; (3) `record_attempt` stores the outcome and emits
NotificationDelivered / NotificationFailed in one transaction. A crash between (2) and (3)
means the lease runs out and the message is attempted again: attempted at least once,
recorded as delivered at most once."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from notifications.adapters import repository as repo
from notifications.adapters.channels import OutgoingMessage
from notifications.adapters.tables import (
    DeliveryRow,
    KeptEvent,
)
from notifications.config import NotificationsConfig
from notifications.domain.deliveries import (
    CADRE_RECIPIENTS,
    Contact,
    NewMessage,
    Outcome,
    attempt_outcome,
    new_message,
)
from notifications.domain.schedule import QUIET_CHANNELS
from notifications.handlers.composing import Skip, Undeliverable, compose
from sikader_shared.clock import utc
from sikader_shared.events import NotificationDelivered, NotificationFailed
from sikader_shared.uow import UnitOfWork

log = logging.getLogger(__name__)

DeliveryFilter = repo.DeliveryFilter  # what the delivery log may be filtered by


def new_delivery(
    *,
    source_key: str,
    recipient_type: str,
    recipient_id: str,
    channel: str,
    lane: str,
    aggregate_key: str,
    seq: int,
    now: datetime,
    **extra: Any,
) -> DeliveryRow:
    return DeliveryRow(
        notification_id=str(uuid.uuid4()),
        source_key=source_key,
        recipient_type=recipient_type,
        recipient_id=recipient_id,
        channel=channel,
        lane=lane,
        aggregate_key=aggregate_key,
        seq=seq,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        **extra,
    )


def new_webhook_row(subscription_id: str, event: KeptEvent) -> dict[str, Any]:
    """A new webhook delivery of a kept event as a plain row (every column but the id, as
    `new_delivery` would set them), for a bulk insert."""
    now = event.received_at
    return {
        "notification_id": str(uuid.uuid4()),
        "source_key": event.event_id,
        "recipient_type": "subscription",
        "recipient_id": subscription_id,
        "channel": "webhook",
        "replay_id": "",
        "source_event_id": event.event_id,
        "source_event_type": event.ce_type,
        "subscription_id": subscription_id,
        "broadcast_id": None,
        "template": None,
        "language": "id",
        "lane": f"sub:{subscription_id}",
        "aggregate_key": event.subject,
        "seq": event.seq,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "last_attempt_at": None,
        "last_error": None,
        "created_at": now,
        "delivered_at": None,
        "failed_at": None,
    }


async def new_message_state(
    uow: UnitOfWork, config: NotificationsConfig, recipient_type: str, recipient_id: str, channel: str, now: datetime
) -> NewMessage:
    """Status, reason and first attempt time of a new message to a recipient (the domain
    decides from the opt-outs and the contact details known)."""
    opted_out, contact = False, None
    if recipient_type in CADRE_RECIPIENTS:
        opted_out = await repo.is_opted_out(uow.session, recipient_id, channel)
        row = None if opted_out else await repo.contact_of(uow.session, recipient_id)
        contact = Contact(row.email_enc, row.phone_enc) if row is not None else None
    return new_message(recipient_type, channel, opted_out, contact, config.quiet_hours, now)


# -- one attempt ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    """A claimed attempt: the message to send, or the problem that counts as its failure."""

    delivery_id: int
    number: int
    channel: str
    message: OutgoingMessage | None
    problem: Undeliverable | None
    correlation_id: str | None
    cause: str | None


async def start_attempt(
    uow: UnitOfWork, config: NotificationsConfig, delivery_id: int, lease: timedelta
) -> tuple[bool, Attempt | None]:
    """Claim one delivery if it is still due: (its state moved on, the attempt to make).
    SMS / WhatsApp in quiet hours are put off; a message with nothing to send is skipped."""
    now = uow.clock.now()
    row = await uow.session.get(DeliveryRow, delivery_id)
    if row is None or row.status != "pending" or utc(row.next_attempt_at) > now:
        return False, None
    if row.channel in QUIET_CHANNELS and config.quiet_hours.is_quiet(now):
        row.next_attempt_at = config.quiet_hours.next_allowed(now)
        uow.session.add(row)
        return False, None
    message: OutgoingMessage | None = None
    problem: Undeliverable | None = None
    correlation: str | None = None
    try:
        message, correlation = await compose(uow, config, row)
    except Skip as skip:
        row.status, row.last_error = "skipped", str(skip)
        uow.session.add(row)
        return True, None
    except Undeliverable as exc:
        problem = exc
    seen = row.attempts
    if not await repo.claim_attempt(uow.session, delivery_id, seen, now, lease):
        return False, None
    return True, Attempt(delivery_id, seen + 1, row.channel, message, problem, correlation, row.source_event_id)


async def record_attempt(
    uow: UnitOfWork, config: NotificationsConfig, attempt: Attempt, error: str | None, permanent: bool, rand: float
) -> None:
    """Store the outcome of a sent (or failed) attempt: delivered, retried later or given up,
    with the outcome event. Nothing when the lease ran out and another attempt took over."""
    row = await uow.session.get(DeliveryRow, attempt.delivery_id)
    if row is None or row.status != "pending" or row.attempts != attempt.number:
        return
    settings = config.settings
    outcome = attempt_outcome(attempt.number, error, permanent, settings.retry_schedule_s, settings.retry_jitter, rand)
    now = uow.clock.now()
    if outcome.status == "delivered":
        row.status, row.delivered_at, row.last_error = "delivered", now, None
    elif outcome.status == "failed":
        row.status, row.failed_at, row.last_error = "failed", now, outcome.reason
    else:
        row.last_error = outcome.reason
        row.next_attempt_at = now + timedelta(seconds=outcome.retry_in_s or 0.0)
    facts = {name: getattr(row, name) for name in repo.OUTCOME_FACTS}
    emit_outcome(uow, facts, attempt.number, outcome, now)
    uow.session.add(row)


def emit_outcome(uow: UnitOfWork, facts: dict[str, Any], attempt: int, outcome: Outcome, now: datetime) -> None:
    """The outcome event of a stored attempt (`facts`: the delivery's OUTCOME_FACTS), or the
    log line of a retry."""
    if outcome.status == "delivered":
        uow.emit(NotificationDelivered(**facts, attempts=attempt, delivered_at=now))
    elif outcome.status == "failed":
        uow.emit(NotificationFailed(**facts, attempts=attempt, reason=outcome.reason or "", failed_at=now))
    else:
        log.info(
            "delivery attempt failed; will retry",
            extra={
                "notification_id": facts["notification_id"],
                "reason": outcome.reason,
                "retry_in_s": outcome.retry_in_s,
            },
        )


# -- the delivery log -------------------------------------------------------------------------


def page_key(row: DeliveryRow) -> list[int]:
    """The delivery lists' sort key of a row, as a cursor holds it."""
    return repo.delivery_key(row)


async def list_deliveries(
    session: AsyncSession,
    where: DeliveryFilter,
    *,
    after: Sequence[Any] | None,
    offset: int,
    limit: int,
) -> list[DeliveryRow]:
    """Every delivery (cadres, head cadres, Puskesmas, OPD inboxes, subscriptions), oldest first."""
    return await repo.deliveries(session, where, after=after, offset=offset, limit=limit)
