"""Webhook deliveries in batches: the due heads of a subscription's lane (at most one per
aggregate key) are claimed in one transaction and their outcomes recorded in one, instead of
two transactions per webhook. The guarantees are those of one attempt (handlers/deliveries.py):
a claim is a lease counted as an attempt, so a crash between sending and recording means the
lease runs out and the webhook goes again (at least once); an aggregate's next delivery heads
its queue only once the one before it is no longer pending (order per key)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from notifications.adapters import repository as repo
from notifications.adapters.tables import DeliveryRow, ReceivedEventRow, SubscriptionRow
from notifications.config import NotificationsConfig
from notifications.handlers.deliveries import Attempt, Skip, Undeliverable, record_attempt, webhook_message
from sikader_shared.uow import UnitOfWork


@dataclass(frozen=True)
class Outcome:
    attempt: Attempt
    error: str | None
    permanent: bool
    rand: float  # the retry jitter's draw


async def claim_webhooks(uow: UnitOfWork, lane: str, limit: int, lease: timedelta) -> tuple[int, list[Attempt]]:
    """Claim up to `limit` due heads of a webhook lane: (how many heads were due, the attempts
    to make). A delivery whose subscription is gone is skipped here."""
    now = uow.clock.now()
    heads = [delivery_id for delivery_id, _ in await repo.due_heads(uow.session, now, limit, lane)]
    if not heads:
        return 0, []
    claimed = await repo.claim_attempts(uow.session, heads, now, lease)
    rows = await repo.deliveries_by_id(uow.session, list(claimed))
    kept = await repo.kept_events_by_id(uow.session, [r.source_event_id for r in rows if r.source_event_id])
    # Held while composing (the identity map holds it weakly): read once for the batch.
    subscription = await uow.session.get(SubscriptionRow, lane.removeprefix("sub:"))
    attempts = []
    with uow.session.no_autoflush:  # the rows' changes go in one flush at the commit
        for row in rows:
            attempt = await _attempt(uow, row, kept.get(row.source_event_id or ""), claimed)
            if attempt is not None:
                attempts.append(attempt)
    del subscription
    return len(heads), attempts


async def _attempt(
    uow: UnitOfWork, row: DeliveryRow, received: ReceivedEventRow | None, claimed: dict[int, int]
) -> Attempt | None:
    """The attempt at a claimed webhook, or None when it is skipped."""
    assert row.id is not None
    correlation = received.headers.get("ce_correlationid") if received else None
    message, problem = None, None
    try:
        message = await webhook_message(uow, row, received)
    except Skip as skip:
        row.status, row.last_error = "skipped", str(skip)
        uow.session.add(row)
        return None
    except Undeliverable as exc:
        problem = exc
    return Attempt(row.id, claimed[row.id], row.channel, message, problem, correlation, row.source_event_id)


async def record_webhooks(uow: UnitOfWork, config: NotificationsConfig, outcomes: Sequence[Outcome]) -> None:
    """Store the outcomes of a batch in one transaction, each outcome event with the
    correlation id of the event it is about, naming that event as its cause."""
    # One read for all; held here, as the session's identity map holds rows weakly.
    rows = await repo.deliveries_by_id(uow.session, [o.attempt.delivery_id for o in outcomes])
    with uow.session.no_autoflush:  # one flush at the commit: the updates go in one executemany
        for outcome in outcomes:
            uow.correlation_id, uow.causation_id = outcome.attempt.correlation_id, outcome.attempt.cause
            await record_attempt(uow, config, outcome.attempt, outcome.error, outcome.permanent, outcome.rand)
    del rows
