"""Monthly periods: how they stand, and calculate, approve, close."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response
from fastapi.responses import JSONResponse

from incentives.config import ConfigDep
from incentives.entrypoints.schemas import ApproveRequest, PeriodPath, PeriodPublic
from incentives.handlers import periods
from sikader_shared.deps import Approver, Calculator, IncentivesReader, Payer, RuntimeDep, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["incentives"])

PeriodPage = Annotated[Page, Depends(paging(100, 1000))]


@router.get("/periods", response_model=list[PeriodPublic])
async def list_periods(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    _: IncentivesReader,
    page: PeriodPage,
) -> list[dict[str, Any]]:
    """Periods that were calculated (or touched), newest first, and the current month."""
    rows = await periods.list_periods(session, runtime.clock, page.after_str(), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda r: [r["period"]])
    set_next_link(request, response, cursor)
    return rows


@router.get("/periods/{period}", response_model=PeriodPublic)
async def get_period(session: SessionDep, _: IncentivesReader, period: str = PeriodPath) -> dict[str, Any]:
    """State, decision-set hash, totals and the actions the state allows."""
    return await periods.period_view(session, period)


@router.post("/periods/{period}/calculate", response_model=PeriodPublic)
async def calculate_period(
    request: Request, config: ConfigDep, actor: Calculator, period: str = PeriodPath
) -> JSONResponse:
    """Decides every cadre (set-based); may be repeated until approved (the latest counts)."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await periods.calculate(uow, period, correction_lookback=config.correction_lookback_periods)
        return await periods.answer(uow, period)

    return await execute_write(request, actor, op, body={"period": period})


@router.post("/periods/{period}/approve", response_model=PeriodPublic)
async def approve_period(
    request: Request,
    actor: Approver,
    period: str = PeriodPath,
    body: ApproveRequest = Body(default_factory=ApproveRequest),
) -> JSONResponse:
    """Approves the calculated decisions: never by the key, nor the OPD client, that calculated."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await periods.approve(uow, period, body.decision_hash)
        return await periods.answer(uow, period)

    return await execute_write(request, actor, op, body={"period": period, **body.model_dump()})


@router.post("/periods/{period}/close", response_model=PeriodPublic)
async def close_period(request: Request, actor: Payer, period: str = PeriodPath) -> JSONResponse:
    """Closes a paid period; payments still failed are carried into the next calculation."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await periods.close(uow, period)
        return await periods.answer(uow, period)

    return await execute_write(request, actor, op, body={"period": period})
