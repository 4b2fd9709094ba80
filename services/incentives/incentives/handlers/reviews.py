"""Reviewing a calculated period: totals per area, the decisions with their reasons, the
adjustments made in it, and the fairness report for the council."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import queries
from incentives.adapters import repository as repo
from incentives.adapters.tables import AdjustmentRow
from incentives.domain.fairness import DEFAULT_FLAG_RATIO, flag_kelurahan
from incentives.domain.periods import Period
from incentives.domain.policy import RULES
from incentives.handlers.eligibility import reasons
from incentives.handlers.periods import calculated
from sikader_shared.errors import Invalid


async def totals(
    session: AsyncSession, period: str, by: str, after: list[Any] | None, limit: int
) -> list[dict[str, Any]]:
    """Cadres, eligible cadres and amounts per kecamatan, kelurahan or Posyandu, in area
    order, after an area (keyset: `area_key`)."""
    await calculated(session, period)
    if after is not None and (
        len(after) != len(queries.AREA_COLUMNS[by]) or not all(isinstance(v, str) for v in after)
    ):
        raise Invalid("cursor is not one for this list", field="cursor")
    return await queries.totals(session, period, by, after, limit)


def area_key(item: dict[str, Any], by: str) -> list[str]:
    return queries.area_key(item, by)


async def decisions(
    session: AsyncSession,
    period: str,
    *,
    eligible: bool | None,
    posyandu_id: str | None,
    kelurahan_code: str | None,
    after: str | None,
    limit: int,
) -> dict[str, Any]:
    """A calculated period's decisions with their reasons, by cadre id, after a cadre id:
    `limit` items at most (the caller asks one more to know whether there is a next page)."""
    row = await calculated(session, period)
    policy = await repo.policy_version(session, row.policy_version or "")
    assert policy is not None
    page = await repo.decision_page(
        session,
        period,
        eligible=eligible,
        posyandu_id=posyandu_id,
        kelurahan_code=kelurahan_code,
        after=after,
        limit=limit,
    )
    p = Period.parse(period)
    items = [
        {
            "cadre_id": d.cadre_id,
            "posyandu_id": d.posyandu_id,
            "kelurahan_code": d.kelurahan_code,
            "kecamatan_code": d.kecamatan_code,
            "eligible": d.eligible,
            "amount": d.amount,
            "level": d.level_used,
            "posyandu_rank": d.posyandu_rank,
            "failed_rules": [rule for rule in RULES if d.failed(rule)],
            "reasons": reasons(d, p, policy, budget_applied=True),
        }
        for d in page
    ]
    return {"period": period, "policy_version": policy.version, "items": items}


async def adjustments(session: AsyncSession, period: str, after_id: int | None, limit: int) -> list[AdjustmentRow]:
    """Corrections of approved periods and carried-over payments made in the period."""
    return await repo.adjustment_page(session, period, after_id, limit)


async def fairness(session: AsyncSession, period: str, flag_ratio: float = DEFAULT_FLAG_RATIO) -> dict[str, Any]:
    """The council's report, with each kelurahan's amount per active cadre against the
    city's median and the flag where the ratio falls below `flag_ratio`."""
    await calculated(session, period)
    report = await queries.fairness(session, period)
    flags = flag_kelurahan(report["kelurahan"], flag_ratio)
    return {
        **report,
        "city_median_amount_per_cadre": flags.city_median_amount_per_cadre,
        "fairness_flag_ratio": flag_ratio,
        "kelurahan_below_threshold": flags.flagged,
    }
