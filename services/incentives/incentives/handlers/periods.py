"""The monthly period: calculate (set-based), approve (four eyes), close; and how a period
stands. Payments (the states between approval and closing) are in `payments`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import calculation as calc
from incentives.adapters import repository as repo
from incentives.adapters import store
from incentives.adapters.tables import PeriodRow
from incentives.domain.periods import (
    Action,
    DutiesNotSegregated,
    Period,
    PeriodState,
    TransitionRefused,
    allowed_actions,
    check_segregation,
    check_transition,
)
from incentives.domain.policy import Policy, policy_for
from incentives.domain.rules import finish_hash
from sikader_shared import events as ev
from sikader_shared.clock import Clock, utc
from sikader_shared.errors import Conflict, Forbidden, Invalid, NotFound
from sikader_shared.uow import UnitOfWork

CLOSED_STATES = {PeriodState.APPROVED.value, PeriodState.PAID.value, PeriodState.CLOSED.value}


def current_period(uow: UnitOfWork) -> Period:
    return Period.of(uow.clock.now())


def parse_period(text_: str) -> Period:
    try:
        return Period.parse(text_)
    except ValueError as exc:
        raise Invalid(str(exc), field="period") from exc


def refuse(exc: TransitionRefused) -> Conflict:
    return Conflict(str(exc), period=exc.period, state=exc.state.value, action=exc.action.value, reason=exc.reason)


async def locked_period(uow: UnitOfWork, period_text: str, action: Action) -> PeriodRow:
    """The period's row, locked, if its state allows `action`."""
    period = parse_period(period_text)
    row = await repo.period_row(uow.session, str(period), lock=True)
    try:
        check_transition(str(period), action, PeriodState(row.state))
    except TransitionRefused as exc:
        raise refuse(exc) from exc
    return row


# --------------------------------------------------------------------------- calculate


async def calculate(uow: UnitOfWork, period_text: str, *, correction_lookback: int = 3) -> PeriodRow:
    """Decides every cadre for the period (set-based), adds corrections of recently approved
    periods and carried-over failed payments, stores the decision set's hash."""
    session = uow.session
    period = parse_period(period_text)
    if period > current_period(uow):
        raise Invalid(f"period {period} has not started yet (periods are calendar months in WITA)", field="period")
    row = await locked_period(uow, str(period), Action.CALCULATE)
    all_policies = await store.policies(session)
    policy = policy_for(all_policies, str(period))
    before = period_public(row)
    await calc.insert_decisions(session, period, policy)
    await _adjustments(session, period, all_policies, correction_lookback)
    digest = await _decision_hash(session, period, policy)
    _record_calculation(uow, row, policy, digest, await repo.decision_summary(session, str(period)))
    session.add(row)
    uow.emit(
        ev.IncentivePeriodCalculated(
            period=str(period),
            policy_version=policy.version,
            decision_hash=digest,
            cadres_evaluated=row.cadres_evaluated,
            eligible_cadres=row.eligible_cadres,
            total_amount=row.total_amount,
            budget_ceiling=policy.budget_ceiling,
            totals_by_kecamatan=[ev.AreaTotal(**t) for t in await repo.kecamatan_totals(session, str(period))],
            calculated_by=uow.actor.client_id,
            calculated_at=row.calculated_at or uow.clock.now(),
        )
    )
    uow.audit("period.calculate", "period", str(period), before, period_public(row))
    return row


async def _adjustments(session: AsyncSession, period: Period, all_policies: list[Policy], lookback: int) -> None:
    """The period's adjustments, again from scratch: corrections of the approved periods in
    the look-back (late facts), and failed payments of closed periods carried over."""
    await repo.reset_adjustments(session, str(period))
    earlier = await repo.periods_before(session, str(period), CLOSED_STATES)
    oldest = period
    for _ in range(lookback):
        oldest = oldest.previous()
    by_version = {p.version: p for p in all_policies}
    for earlier_row in earlier:
        if earlier_row.period >= str(oldest) and earlier_row.policy_version in by_version:
            policy = by_version[earlier_row.policy_version]
            await calc.insert_corrections(session, period, Period.parse(earlier_row.period), policy)
    closed = [r.period for r in earlier if r.state == PeriodState.CLOSED.value]
    await calc.insert_carry_overs(session, period, closed)


async def _decision_hash(session: AsyncSession, period: Period, policy: Policy) -> str:
    """The hash of the decision set: the policy, every decision and every adjustment."""
    h = await calc.decision_lines_digest(session, str(period), f"{period}|{policy.version}")
    return finish_hash(h, await calc.adjustment_lines(session, str(period)))


def _record_calculation(
    uow: UnitOfWork, row: PeriodRow, policy: Policy, digest: str, summary: repo.DecisionSummary
) -> None:
    row.state = PeriodState.CALCULATED.value
    row.needs_recalculation = False
    row.policy_version = policy.version
    row.decision_hash = digest
    row.cadres_evaluated = summary.cadres_evaluated
    row.eligible_cadres = summary.eligible_cadres
    row.total_amount = summary.total_amount
    row.budget_ceiling = policy.budget_ceiling
    row.corrections = summary.corrections
    row.calculation_count += 1
    row.calculated_by_client = uow.actor.client_id
    row.calculated_by_key = uow.actor.key_id
    row.calculated_at = uow.clock.now()


# --------------------------------------------------------------------------- approve, close


async def approve(uow: UnitOfWork, period_text: str, decision_hash: str | None) -> PeriodRow:
    """Four eyes: neither the key nor the OPD client that calculated may approve. The
    approver may name the hash they reviewed; a recalculation since then is refused."""
    row = await locked_period(uow, period_text, Action.APPROVE)
    _check_approvable(uow, row, decision_hash)
    before = period_public(row)
    await repo.insert_payments_owed(uow.session, row.period)
    now = uow.clock.now()
    row.state = PeriodState.APPROVED.value
    row.approved_by_client = uow.actor.client_id
    row.approved_by_key = uow.actor.key_id
    row.approved_at = now
    uow.session.add(row)
    uow.emit(
        ev.IncentivePeriodApproved(
            period=row.period,
            policy_version=row.policy_version or "",
            decision_hash=row.decision_hash or "",
            eligible_cadres=row.eligible_cadres,
            total_amount=row.total_amount,
            calculated_by=row.calculated_by_client or "",
            approved_by=uow.actor.client_id,
            approved_at=now,
        )
    )
    uow.audit("period.approve", "period", row.period, before, period_public(row))
    return row


def _check_approvable(uow: UnitOfWork, row: PeriodRow, decision_hash: str | None) -> None:
    try:
        check_segregation(row.calculated_by_client, row.calculated_by_key, uow.actor.client_id, uow.actor.key_id)
    except DutiesNotSegregated as exc:
        raise Forbidden(str(exc), calculated_by=row.calculated_by_client) from exc
    if decision_hash is not None and decision_hash != row.decision_hash:
        raise Conflict(
            "the period was recalculated since the reviewed decision set: review it again",
            field="decision_hash",
            current_hash=row.decision_hash,
        )
    if row.needs_recalculation:
        why = (
            "the live eligibility decisions no longer match this calculation (a cadre, her eligibility or her "
            "amount changed since it was calculated): calculate the period again, review it, then approve"
        )
        raise Conflict(why, period=row.period, state=row.state, action="approve", reason=why, needs_recalculation=True)


async def close(uow: UnitOfWork, period_text: str) -> PeriodRow:
    """Closes a paid period; payments still failed are carried into the next calculation."""
    row = await locked_period(uow, period_text, Action.CLOSE)
    counts = await repo.payment_counts(uow.session, row.period, carried_over_too=False)
    if counts.get("in_batch"):
        raise Conflict(
            f"cannot close period {row.period}: {counts['in_batch']} payments await the bank's result",
            period=row.period,
            state=row.state,
        )
    paid_cadres, paid_amount = await repo.paid_total(uow.session, row.period)
    before = period_public(row)
    now = uow.clock.now()
    row.state = PeriodState.CLOSED.value
    row.closed_by_client = uow.actor.client_id
    row.closed_at = now
    uow.session.add(row)
    uow.emit(
        ev.IncentivePeriodClosed(
            period=row.period,
            decision_hash=row.decision_hash,
            paid_cadres=paid_cadres,
            paid_amount=paid_amount,
            failed_cadres=counts.get("failed", 0),
            closed_by=uow.actor.client_id,
            closed_at=now,
        )
    )
    uow.audit("period.close", "period", row.period, before, period_public(row))
    return row


# --------------------------------------------------------------------------- how a period stands


def period_public(row: PeriodRow) -> dict[str, Any]:
    """The period as the API and the audit trail show it."""

    def at(v: datetime | None) -> str | None:
        return utc(v).isoformat() if v else None

    return {
        "period": row.period,
        "state": row.state,
        "policy_version": row.policy_version,
        "decision_hash": row.decision_hash,
        "cadres_evaluated": row.cadres_evaluated,
        "eligible_cadres": row.eligible_cadres,
        "total_amount": row.total_amount,
        "budget_ceiling": row.budget_ceiling,
        "corrections": row.corrections,
        "needs_recalculation": bool(row.needs_recalculation),
        "calculation_count": row.calculation_count,
        "calculated_by": row.calculated_by_client,
        "calculated_at": at(row.calculated_at),
        "approved_by": row.approved_by_client,
        "approved_at": at(row.approved_at),
        "paid_at": at(row.paid_at),
        "closed_by": row.closed_by_client,
        "closed_at": at(row.closed_at),
    }


async def period_view(session: AsyncSession, period: str) -> dict[str, Any]:
    """The period, the actions its state allows and its payments by status (a period nobody
    touched yet is open)."""
    row = await session.get(PeriodRow, period)
    if row is None:
        row = PeriodRow(period=period, state=PeriodState.OPEN.value)
    return {
        **period_public(row),
        "allowed_actions": allowed_actions(PeriodState(row.state)),
        "payments": await repo.payment_counts(session, period),
    }


async def answer(uow: UnitOfWork, period: str) -> dict[str, Any]:
    """A write's answer: the period as it stands in the unit of work."""
    await uow.session.flush()
    return await period_view(uow.session, period)


async def list_periods(session: AsyncSession, clock: Clock, before: str | None, limit: int) -> list[dict[str, Any]]:
    """Periods that were calculated (or touched) and the current month, newest first, before
    a period (keyset), `limit` of them at most."""
    names = set(await repo.period_names(session, before, limit))
    current = str(Period.of(clock.now()))
    if before is None or current < before:
        names.add(current)
    return [await period_view(session, p) for p in sorted(names, reverse=True)[:limit]]


async def calculated(session: AsyncSession, period: str) -> PeriodRow:
    """The period's row, if it was calculated (the review reads need a calculation)."""
    row = await session.get(PeriodRow, period)
    if row is None or row.state == PeriodState.OPEN.value or not row.policy_version:
        raise NotFound(f"period {period} has not been calculated")
    return row
