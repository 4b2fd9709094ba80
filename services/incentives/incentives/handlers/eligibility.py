"""Reading a cadre's eligibility: the live decision (what events and messages announce) and
how the period's calculation stands for her."""

from __future__ import annotations

from typing import Any

from incentives.adapters import repository as repo
from incentives.adapters import store
from incentives.adapters.tables import PeriodRow
from incentives.domain.periods import Period, PeriodState
from incentives.domain.policy import Policy, policy_for
from incentives.domain.rules import Decision, evaluate, explain
from incentives.handlers.periods import CLOSED_STATES, current_period, parse_period
from sikader_shared.errors import NotFound
from sikader_shared.uow import UnitOfWork


async def eligibility(uow: UnitOfWork, cadre_id: str, period_text: str | None) -> dict[str, Any]:
    """The decision events and messages announce, and how the period's calculation stands.

    - An approved, paid or closed period answers with its stored decision (money moved on it;
      a later change is a correction in a later period).
    - An open or calculated period answers with the live decision, decided now from the
      projections as the reactive announcements are (no budget rule), and, once calculated,
      with `calculation`: whether it includes the cadre, its decision, and whether it matches."""
    session = uow.session
    period = parse_period(period_text) if period_text else current_period(uow)
    row = await session.get(PeriodRow, str(period))
    state = row.state if row is not None else PeriodState.OPEN.value
    if row is not None and state in CLOSED_STATES and row.policy_version:
        return await _approved_eligibility(uow, cadre_id, period, row)
    live, policy = await _live_decision(uow, cadre_id, period)
    answer = eligibility_answer(live, period, policy, "live", budget_applied=False)
    calculation = None
    if row is not None and state == PeriodState.CALCULATED.value and row.policy_version:
        calculation = _calculation_view(await repo.decision(session, str(period), cadre_id), live, row, policy)
    return {**answer, "period_state": state, "calculation": calculation}


async def _approved_eligibility(uow: UnitOfWork, cadre_id: str, period: Period, row: PeriodRow) -> dict[str, Any]:
    """An approved period's stored decision: what was approved and paid."""
    d = await repo.decision(uow.session, str(period), cadre_id)
    if d is None:
        raise NotFound(f"cadre {cadre_id} was not part of period {period}'s calculation, approved as it stands")
    policy = await repo.policy_version(uow.session, row.policy_version or "")
    assert policy is not None
    answer = eligibility_answer(d, period, policy, "calculation", budget_applied=True)
    stored_view = {
        "included": True,
        "eligible": d.eligible,
        "amount": d.amount if d.eligible else 0,
        "budget_rule_failed": d.failed("budget"),
        "matches_live": True,  # this answer is the calculation: what was approved and paid
        "needs_recalculation": False,
        "decision_hash": row.decision_hash,
    }
    return {**answer, "period_state": row.state, "calculation": stored_view}


async def _live_decision(uow: UnitOfWork, cadre_id: str, period: Period) -> tuple[Decision, Policy]:
    session = uow.session
    cadres = await store.load_cadres(session, [cadre_id])
    if cadre_id not in cadres:
        raise NotFound(f"cadre {cadre_id} is not known to incentives (no registry event about it yet)")
    c = cadres[cadre_id]
    group = await store.load_cadres_at(session, [c.posyandu_id]) if c.posyandu_id else [c]
    posy = await store.load_posyandu(session, [c.posyandu_id] if c.posyandu_id else [])
    certs = await store.load_certificates_of(session, [g.cadre_id for g in group])
    policy = policy_for(await store.policies(session), str(period))
    decided = [d for d in evaluate(group, posy, certs, period, policy, apply_budget=False) if d.cadre_id == cadre_id]
    if not decided:
        raise NotFound(f"cadre {cadre_id} was registered after period {period}")
    return decided[0], policy


def _calculation_view(stored: Decision | None, live: Decision, row: PeriodRow, policy: Policy) -> dict[str, Any]:
    """The calculated period's view of one cadre, beside the live decision."""
    if stored is None:
        return {
            "included": False,
            "eligible": None,
            "amount": None,
            "matches_live": False,
            "needs_recalculation": True,
            "decision_hash": row.decision_hash,
        }
    matches = stored.before_budget(policy) == live.before_budget(policy)
    return {
        "included": True,
        "eligible": stored.eligible,
        "amount": stored.amount if stored.eligible else 0,
        "budget_rule_failed": stored.failed("budget"),
        "matches_live": matches,
        "needs_recalculation": bool(row.needs_recalculation) or not matches,
        "decision_hash": row.decision_hash,
    }


def reasons(d: Decision, period: Period, policy: Policy, *, budget_applied: bool) -> list[dict[str, Any]]:
    """One reason per rule, in English and Indonesian, with the events behind each fact."""
    return [
        {
            "rule": r.rule,
            "passed": r.passed,
            "fact": r.fact_en,
            "text_en": r.fact_en,
            "text_id": r.fact_id,
            "source_event_ids": list(r.source_event_ids),
        }
        for r in explain(d, period, policy, budget_applied=budget_applied)
    ]


def eligibility_answer(
    d: Decision, period: Period, policy: Policy, source: str, *, budget_applied: bool
) -> dict[str, Any]:
    return {
        "cadre_id": d.cadre_id,
        "period": str(period),
        "eligible": d.eligible,
        "amount": d.amount,
        "policy_version": policy.version,
        "source": source,
        "level": d.level_used,
        "posyandu_id": d.posyandu_id,
        "kelurahan_code": d.kelurahan_code,
        "kecamatan_code": d.kecamatan_code,
        "reasons": reasons(d, period, policy, budget_applied=budget_applied),
    }
