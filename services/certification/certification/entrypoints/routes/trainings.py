"""Trainings: planned with their participants, completed with the attendance."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from certification.config import ConfigDep
from certification.entrypoints.schemas import (
    ERRORS,
    TrainingCompletion,
    TrainingCreate,
    TrainingPublic,
    TrainingSummary,
)
from certification.handlers import trainings
from sikader_shared.deps import Caller, SessionDep, Trainer
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["trainings"], responses=ERRORS)


@router.post("/trainings", status_code=201, response_model=TrainingPublic)
async def create_training(body: TrainingCreate, request: Request, actor: Trainer, config: ConfigDep) -> JSONResponse:
    """Plan a training with its participants (known, active cadres)."""

    async def op(uow: UnitOfWork) -> TrainingPublic:
        return await trainings.create_training(uow, config, body)

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("/trainings", response_model=list[TrainingSummary])
async def list_trainings(
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: Caller,
    page: Annotated[Page, Depends(paging(100, 1000))],
    status: Literal["scheduled", "completed"] | None = Query(
        None, description="Only planned trainings (scheduled: attendance still to record) or completed ones"
    ),
) -> list[TrainingSummary]:
    """Trainings, newest first (by start date), with their numbers of participants and
    attendees. Paged: `limit`, `Link: rel="next"`."""
    rows = await trainings.list_trainings(session, status, page.after(), page.limit + 1)
    items, cursor = split_page(rows, page, trainings.training_page_key)
    set_next_link(request, response, cursor)
    return items


@router.get("/trainings/{training_id}", response_model=TrainingPublic)
async def get_training(training_id: str, session: SessionDep, _actor: Caller) -> TrainingPublic:
    return await trainings.get_training(session, training_id)


@router.post("/trainings/{training_id}/completion", response_model=TrainingPublic)
async def complete_training(
    training_id: str, body: TrainingCompletion, request: Request, actor: Trainer, config: ConfigDep
) -> JSONResponse:
    """Record attendance: TrainingCompleted for each attendee; a refresher training
    renews each attendee's current certificate (CertificateRenewed)."""

    async def op(uow: UnitOfWork) -> TrainingPublic:
        return await trainings.complete_training(uow, config, training_id, body)

    return await execute_write(request, actor, op, status_code=200, body=body.model_dump(mode="json"))
