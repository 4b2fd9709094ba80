"""For the approver: what changed since the previous calculated period, and one cadre's
amount explained (JSON, and a printable page)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse

from incentives.entrypoints.schemas import (
    CadreChange,
    ChangeKind,
    DecisionExplained,
    PeriodChanges,
    PeriodPath,
    PosyanduVerificationChange,
)
from incentives.handlers import changes, explanations
from sikader_shared.deps import IncentivesReader, SessionDep
from sikader_shared.paging import Page, paging, set_next_link, split_page

router = APIRouter(tags=["incentives"])

ChangesPage = Annotated[Page, Depends(paging(100, 1000))]


# 404: the period was not calculated; 409: no earlier period was (nothing to compare with).
NOT_COMPARABLE: dict[int | str, dict[str, Any]] = {
    404: {"description": "The period was not calculated"},
    409: {"description": "No earlier period was calculated: nothing to compare with (reason no_previous_calculation)"},
}


@router.get("/periods/{period}/changes", response_model=PeriodChanges, responses=NOT_COMPARABLE)
async def period_changes(
    session: SessionDep,
    _: IncentivesReader,
    period: str = PeriodPath,
    limit: int = Query(100, ge=0, le=1000, description="Items per list at most (0: the counts only)"),
) -> dict[str, Any]:
    """What changed since the previous calculated period: counts, then the cadres added
    (eligible now, not before), dropped (the reverse) and whose amount moved, and the
    Posyandu whose verification state differs, each with its cause. Lists hold `limit`
    items at most; `more` says which go on (GET /periods/{period}/changes/{kind} pages
    through all). 404: the period was not calculated; 409: no earlier period was."""
    return await changes.period_changes(session, period, limit)


@router.get(
    "/periods/{period}/changes/{kind}",
    response_model=list[CadreChange] | list[PosyanduVerificationChange],
    responses=NOT_COMPARABLE,
)
async def period_change_list(
    request: Request,
    response: Response,
    session: SessionDep,
    _: IncentivesReader,
    page: ChangesPage,
    kind: ChangeKind,
    period: str = PeriodPath,
) -> list[dict[str, Any]]:
    """One list of changes in full, by cadre id (Posyandu id for posyandu_verification).
    Paged: `limit`, `Link: rel="next"`."""
    rows = await changes.change_page(session, period, kind, page.after_str(), page.limit + 1)
    items, cursor = split_page(rows, page, lambda r: changes.page_key(kind, r))
    set_next_link(request, response, cursor)
    return items


@router.get("/periods/{period}/decisions/{cadre_id}", response_model=DecisionExplained)
async def decision_explained(
    cadre_id: str, session: SessionDep, _: IncentivesReader, period: str = PeriodPath
) -> dict[str, Any]:
    """One cadre's stored decision explained: the policy version, each rule with its facts
    (values and the ids of the events behind them), the amount before and after the cap,
    and the budget rule."""
    return await explanations.decision_explained(session, period, cadre_id)


@router.get(
    "/periods/{period}/decisions/{cadre_id}/explanation.html",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}, "description": "Printable explanation"}},
)
async def decision_explanation_page(
    cadre_id: str,
    session: SessionDep,
    _: IncentivesReader,
    period: str = PeriodPath,
    lang: Literal["id", "en"] = Query("id", description="id (Indonesian, the default) or en"),
) -> HTMLResponse:
    """The same, as a printable page (no script, no external asset)."""
    return HTMLResponse(await explanations.explanation_page(session, period, cadre_id, lang))
