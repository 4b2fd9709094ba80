"""One cadre's amount explained: each rule of the policy with the facts it used (values and
the ids of the events behind them), and the amount before and after the cap and the budget
rule. Built on the stored decision and `rules.explain` (the same reasons as everywhere)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from incentives.domain.periods import Period
from incentives.domain.policy import Policy
from incentives.domain.rules import Decision, explain


@dataclass(frozen=True)
class RuleExplained:
    rule: str
    required: bool  # a requirement the policy requires; the cap or ceiling the policy sets
    passed: bool
    text_en: str
    text_id: str
    facts: dict[str, Any]
    source_event_ids: tuple[str, ...]


@dataclass(frozen=True)
class AmountSteps:
    meets_requirements: bool
    amount_for_level: int  # the policy's amount for the level used (0 without one)
    before_cap: int
    cap_per_posyandu: int | None
    posyandu_rank: int | None
    cap_applied: bool  # the cap left this cadre out
    after_cap: int
    budget_ceiling: int | None
    budget_applied: bool  # the budget ceiling left this cadre out
    amount: int


def rule_facts(d: Decision, policy: Policy) -> dict[str, dict[str, Any]]:
    """The facts each rule read, as stored with the decision."""
    return {
        "cadre_active": {
            "cadre_status": d.cadre_status,
            "deactivated_on": d.deactivated_on,
            "reactivated_on": d.reactivated_on,
        },
        "certificate_valid": {
            "certificate_id": d.certificate_id,
            "certificate_number": d.certificate_number,
            "level": d.level,
            "certificate_status": d.certificate_status,
            "certificate_status_on": d.certificate_status_on,
            "certificate_valid_from": d.certificate_valid_from,
            "certificate_expires_on": d.certificate_expires_on,
        },
        "posyandu_verified": {
            "posyandu_id": d.posyandu_id,
            "posyandu_name": d.posyandu_name,
            "verification_status": d.verification_status,
            "verification_on": d.verification_on,
        },
        "posyandu_open": {"posyandu_status": d.posyandu_status, "posyandu_closed_on": d.posyandu_closed_on},
        "posyandu_cap": {"posyandu_rank": d.posyandu_rank, "cap_per_posyandu": policy.cap_per_posyandu},
        "budget": {"budget_ceiling": policy.budget_ceiling, "fair_order_round": d.posyandu_rank},
    }


def explain_rules(d: Decision, period: Period, policy: Policy) -> list[RuleExplained]:
    facts = rule_facts(d, policy)
    return [
        RuleExplained(
            rule=r.rule,
            required=_applies(r.rule, policy),
            passed=r.passed,
            text_en=r.fact_en,
            text_id=r.fact_id,
            facts=facts[r.rule],
            source_event_ids=r.source_event_ids,
        )
        for r in explain(d, period, policy, budget_applied=True)
    ]


def _applies(rule: str, policy: Policy) -> bool:
    """Whether the policy holds the rule: a requirement it requires, a cap, a ceiling."""
    if rule == "posyandu_cap":
        return policy.cap_per_posyandu is not None
    if rule == "budget":
        return policy.budget_ceiling is not None
    return policy.requires(rule)


def amount_steps(d: Decision, policy: Policy) -> AmountSteps:
    """Before the cap: the level's amount once the requirements are met (a rank is given
    only then); after it: unless the cap left the cadre out; then the budget rule."""
    meets = d.posyandu_rank is not None
    for_level = policy.amount_for(d.level_used)
    before_cap = for_level if meets else 0
    cap_applied = d.failed("posyandu_cap")
    after_cap = 0 if cap_applied else before_cap
    return AmountSteps(
        meets_requirements=meets,
        amount_for_level=for_level,
        before_cap=before_cap,
        cap_per_posyandu=policy.cap_per_posyandu,
        posyandu_rank=d.posyandu_rank,
        cap_applied=cap_applied,
        after_cap=after_cap,
        budget_ceiling=policy.budget_ceiling,
        budget_applied=d.failed("budget"),
        amount=d.amount,
    )
