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
from notifications.domain.deliveries import attempt_outcome
from notifications.handlers.composing import Skip, Undeliverable, kept_event_message, signing_keys, webhook_message
from notifications.handlers.deliveries import Attempt, emit_outcome, record_attempt
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
    claimed_rows = await repo.claim_webhook_heads(uow.session, lane, now, limit, lease)
    if claimed_rows is not None:  # PostgreSQL: one statement
        return len(claimed_rows), await _claimed_attempts(uow, lane, claimed_rows)
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


async def _claimed_attempts(uow: UnitOfWork, lane: str, claimed: list[repo.ClaimedWebhook]) -> list[Attempt]:
    if not claimed:
        return []
    sub = await uow.session.get(SubscriptionRow, lane.removeprefix("sub:"))
    if sub is None:
        await repo.skip_deliveries(uow.session, [c.id for c in claimed], "subscription deleted")
        return []
    keys = signing_keys(sub, uow.clock.now())
    attempts = []
    for c in claimed:
        message, problem = None, None
        if c.headers is None or c.payload is None or c.source_event_id is None:
            problem = Undeliverable("source event not kept", permanent=True)
        else:
            message = kept_event_message(sub, keys, c.notification_id, c.source_event_id, c.headers, c.payload)
        correlation = c.headers.get("ce_correlationid") if c.headers else None
        attempts.append(Attempt(c.id, c.attempts, "webhook", message, problem, correlation, c.source_event_id))
    return attempts


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
    settings = config.settings
    now = uow.clock.now()
    decided = []
    rows = []
    for o in outcomes:
        result = attempt_outcome(
            o.attempt.number, o.error, o.permanent, settings.retry_schedule_s, settings.retry_jitter, o.rand
        )
        decided.append(result)
        retry_at = now + timedelta(seconds=result.retry_in_s or 0.0) if result.status == "retry" else None
        rows.append(
            repo.OutcomeRow(
                o.attempt.delivery_id,
                o.attempt.number,
                "pending" if result.status == "retry" else result.status,
                result.reason,
                next_attempt_at=retry_at,
                delivered_at=now if result.status == "delivered" else None,
                failed_at=now if result.status == "failed" else None,
            )
        )
    stored = await repo.record_outcomes(uow.session, rows)
    if stored is None:  # not PostgreSQL: through the ORM
        await _record_one_by_one(uow, config, outcomes)
        return
    for o, result in zip(outcomes, decided, strict=True):
        facts = stored.get(o.attempt.delivery_id)
        if facts is not None:  # else another attempt took over when the lease ran out
            uow.correlation_id, uow.causation_id = o.attempt.correlation_id, o.attempt.cause
            emit_outcome(uow, facts, o.attempt.number, result, now)


async def _record_one_by_one(uow: UnitOfWork, config: NotificationsConfig, outcomes: Sequence[Outcome]) -> None:
    # One read for all; held here, as the session's identity map holds rows weakly.
    rows = await repo.deliveries_by_id(uow.session, [o.attempt.delivery_id for o in outcomes])
    with uow.session.no_autoflush:  # one flush at the commit: the updates go in one executemany
        for outcome in outcomes:
            uow.correlation_id, uow.causation_id = outcome.attempt.correlation_id, outcome.attempt.cause
            await record_attempt(uow, config, outcome.attempt, outcome.error, outcome.permanent, outcome.rand)
    del rows
