"""The skill catalogue and the level policy (public, no key)."""

from __future__ import annotations

from fastapi import APIRouter

from certification.config import ConfigDep
from certification.entrypoints.schemas import CataloguePublic, LevelPolicyPublic
from certification.handlers import catalogue

router = APIRouter(tags=["catalogue"])


@router.get("/skills", response_model=CataloguePublic)
async def skill_catalogue(config: ConfigDep) -> CataloguePublic:
    """The skill catalogue (public): five groups, their skills, codes and Indonesian names."""
    return catalogue.catalogue_public(config)


@router.get("/levels", response_model=LevelPolicyPublic)
async def level_policy(config: ConfigDep) -> LevelPolicyPublic:
    """The level rules in force (public) and the certificate validity."""
    return catalogue.level_policy_public(config)
