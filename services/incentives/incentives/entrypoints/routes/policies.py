"""Policy versions: listed, read, created (never edited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from incentives.entrypoints.schemas import PolicyCreate, PolicyPublic
from incentives.handlers import policies
from sikader_shared.deps import IncentivesReader, PolicyEditor, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["incentives"])

PolicyPage = Annotated[Page, Depends(paging(100, 1000))]


@router.get("/policies", response_model=list[PolicyPublic])
async def list_policies(
    request: Request, response: Response, session: SessionDep, _: IncentivesReader, page: PolicyPage
) -> list[PolicyPublic]:
    """Every policy version, oldest first (versions are never edited)."""
    rows = await policies.list_policies(session, page.after_int(2**31 - 1), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda r: [r.sequence])
    set_next_link(request, response, cursor)
    return [PolicyPublic.model_validate(r) for r in rows]


@router.get("/policies/{version}", response_model=PolicyPublic)
async def get_policy(version: str, session: SessionDep, _: IncentivesReader) -> PolicyPublic:
    return PolicyPublic.model_validate(await policies.get_policy(session, version))


@router.post("/policies", response_model=PolicyPublic, status_code=201)
async def create_policy(body: PolicyCreate, request: Request, actor: PolicyEditor) -> JSONResponse:
    """A new policy version, effective from a period (refused for a period already approved)."""

    async def op(uow: UnitOfWork) -> PolicyPublic:
        row = await policies.create_policy(
            uow,
            effective_from=body.effective_from,
            amounts=body.amounts,
            requirements=body.requirements,
            cap_per_posyandu=body.cap_per_posyandu,
            budget_ceiling=body.budget_ceiling,
            note=body.note,
        )
        return PolicyPublic.model_validate(row)

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump())
