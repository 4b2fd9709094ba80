"""The console's certification figures (any key, like the other reads): certified cadres
per kecamatan, kelurahan and level, and certificates expiring per window."""

from __future__ import annotations

from fastapi import APIRouter

from certification.entrypoints.schemas import ERRORS, CertifiedStatistics, ExpiringStatistics
from certification.handlers import statistics
from sikader_shared.deps import Caller, RuntimeDep, SessionDep

router = APIRouter(tags=["statistics"], responses=ERRORS)


@router.get("/statistics/certified", response_model=CertifiedStatistics)
async def certified(runtime: RuntimeDep, session: SessionDep, _actor: Caller) -> CertifiedStatistics:
    """Cadres holding a current valid certificate (status valid, date not reached today in
    WITA) per kecamatan and per kelurahan (codes, from the registry's cadre events), per level
    (Purwa / Madya / Utama), with a total per row and for the city."""
    return await statistics.certified(session, runtime.clock.now())


@router.get("/statistics/expiring", response_model=ExpiringStatistics)
async def expiring(runtime: RuntimeDep, session: SessionDep, _actor: Caller) -> ExpiringStatistics:
    """How many current valid certificates expire within 30, 60 and 90 days (WITA dates;
    each window includes the shorter ones)."""
    return await statistics.expiring_counts(session, runtime.clock.now())
