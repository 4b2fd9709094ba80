"""Reviewing a calculated period: totals per area, decisions with reasons, adjustments, and
the fairness report."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from incentives.config import ConfigDep
from incentives.entrypoints.schemas import AdjustmentPublic, AreaTotals, DecisionPage, FairnessReport, PeriodPath
from incentives.handlers import reviews
from sikader_shared.deps import IncentivesReader, SessionDep
from sikader_shared.paging import Page, paging, set_next_link, split_page

router = APIRouter(tags=["incentives"])

TotalsPage = Annotated[Page, Depends(paging(1000, 10000))]
DecisionsPage = Annotated[Page, Depends(paging(100, 500))]
AdjustmentsPage = Annotated[Page, Depends(paging(1000, 10000))]


@router.get("/periods/{period}/totals", response_model=list[AreaTotals])
async def period_totals(
    request: Request,
    response: Response,
    session: SessionDep,
    _: IncentivesReader,
    page: TotalsPage,
    period: str = PeriodPath,
    by: Literal["kecamatan", "kelurahan", "posyandu"] = Query("kecamatan"),
) -> list[dict[str, Any]]:
    """Review: cadres, eligible cadres and amounts per kecamatan, kelurahan or Posyandu."""
    rows = await reviews.totals(session, period, by, page.after(), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda r: reviews.area_key(r, by))
    set_next_link(request, response, cursor)
    return rows


@router.get("/periods/{period}/decisions", response_model=DecisionPage)
async def period_decisions(
    request: Request,
    response: Response,
    session: SessionDep,
    _: IncentivesReader,
    page: DecisionsPage,
    period: str = PeriodPath,
    eligible: bool | None = Query(None),
    posyandu_id: str | None = Query(None),
    kelurahan_code: str | None = Query(None),
    after: str | None = Query(None, description="Cadre id to continue after (from next_after)"),
) -> dict[str, Any]:
    """Review: the decisions of a calculated period with their reasons, by cadre id."""
    start = page.after_str()
    answer = await reviews.decisions(
        session,
        period,
        eligible=eligible,
        posyandu_id=posyandu_id,
        kelurahan_code=kelurahan_code,
        after=after if start is None else start,
        limit=page.limit + 1,
    )
    items, cursor = split_page(answer["items"], page, lambda d: [d["cadre_id"]])
    set_next_link(request, response, cursor)
    return {**answer, "items": items, "next_after": items[-1]["cadre_id"] if cursor else None}


@router.get("/periods/{period}/adjustments", response_model=list[AdjustmentPublic])
async def period_adjustments(
    request: Request,
    response: Response,
    session: SessionDep,
    _: IncentivesReader,
    page: AdjustmentsPage,
    period: str = PeriodPath,
) -> list[AdjustmentPublic]:
    """Corrections of approved periods (late facts) and failed payments carried over, made in this period."""
    rows = await reviews.adjustments(session, period, page.after_int(), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda a: [a.id])
    set_next_link(request, response, cursor)
    return [AdjustmentPublic.model_validate(a) for a in rows]


@router.get("/periods/{period}/fairness", response_model=FairnessReport)
async def period_fairness(
    session: SessionDep, config: ConfigDep, _: IncentivesReader, period: str = PeriodPath
) -> dict[str, Any]:
    """For the council: paid cadres and amounts per kecamatan and kelurahan, coverage of
    Posyandu per kelurahan, and the Posyandu left out with why. Each kelurahan's
    `amount_per_cadre` (calculated amount / cadres active through the period) against the
    city's median kelurahan (`ratio_to_median`), flagged (`below_threshold`) under
    `fairness_flag_ratio` (SIKADER_INCENTIVES_FAIRNESS_FLAG_RATIO, default 0.8)."""
    return await reviews.fairness(session, period, config.fairness_flag_ratio)
