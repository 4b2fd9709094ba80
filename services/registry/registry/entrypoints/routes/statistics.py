"""The mapping statistics: the city's first question, answered per kecamatan and kelurahan."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from registry.config import ConfigDep
from registry.entrypoints.schemas import MappingStatistics
from registry.handlers import posyandu
from sikader_shared.deps import RegistryReader, SessionDep

router = APIRouter(prefix="/statistics", tags=["statistics"])


@router.get("/mapping", response_model=MappingStatistics)
async def mapping(session: SessionDep, config: ConfigDep, _actor: RegistryReader) -> dict[str, Any]:
    """The city's first question: per kecamatan and kelurahan, active Posyandu by facility
    status and by verification state, and active cadres."""
    return await posyandu.mapping_statistics(session, config)
