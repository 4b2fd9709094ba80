"""One cadre's amount in a calculated period, explained: the stored decision told rule by
rule with its facts, the amount before and after the cap, as JSON or a printable page."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import repository as repo
from incentives.adapters.printing import explanation_html
from incentives.domain.explanations import amount_steps, explain_rules
from incentives.domain.periods import Period
from incentives.handlers.periods import calculated, parse_period
from sikader_shared.errors import NotFound


async def decision_explained(session: AsyncSession, period_text: str, cadre_id: str) -> dict[str, Any]:
    period = parse_period(period_text)
    row = await calculated(session, str(period))
    d = await repo.decision(session, str(period), cadre_id)
    if d is None:
        raise NotFound(f"cadre {cadre_id} is not part of period {period}'s calculation", cadre_id=cadre_id)
    policy = await repo.policy_version(session, row.policy_version or "")
    assert policy is not None
    return {
        "period": str(period),
        "period_state": row.state,
        "decision_hash": row.decision_hash,
        "cadre_id": d.cadre_id,
        "posyandu_id": d.posyandu_id,
        "posyandu_name": d.posyandu_name,
        "kelurahan_code": d.kelurahan_code,
        "kecamatan_code": d.kecamatan_code,
        "policy": {
            "version": policy.version,
            "effective_from": policy.effective_from,
            "amounts": policy.amounts,
            "requirements": list(policy.requirements),
            "cap_per_posyandu": policy.cap_per_posyandu,
            "budget_ceiling": policy.budget_ceiling,
        },
        "eligible": d.eligible,
        "level": d.level_used,
        "amount": d.amount,
        "amount_steps": asdict(amount_steps(d, policy)),
        "rules": [asdict(r) for r in explain_rules(d, Period.parse(str(period)), policy)],
    }


async def explanation_page(session: AsyncSession, period_text: str, cadre_id: str, lang: str) -> str:
    return explanation_html(await decision_explained(session, period_text, cadre_id), lang)
