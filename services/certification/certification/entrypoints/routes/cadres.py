"""Cadres as certification knows them from the registry's events (any key)."""

from __future__ import annotations

from fastapi import APIRouter

from certification.config import ConfigDep
from certification.entrypoints.schemas import ERRORS, CadreHistory, CadrePublic
from certification.handlers import cadres
from sikader_shared.deps import Caller, SessionDep

router = APIRouter(tags=["cadres"], responses=ERRORS)


@router.get("/cadres/{cadre_id}", response_model=CadrePublic)
async def get_cadre(cadre_id: str, session: SessionDep, _actor: Caller) -> CadrePublic:
    """The cadre as certification knows it from the registry's events (any key)."""
    return await cadres.cadre_view(session, cadre_id)


@router.get("/cadres/{cadre_id}/history", response_model=CadreHistory)
async def cadre_history(cadre_id: str, session: SessionDep, config: ConfigDep, _actor: Caller) -> CadreHistory:
    """Everything about one cadre in one call: trainings, assessments, badges, certificates."""
    return await cadres.history(session, config, cadre_id)
