"""A cadre's eligibility for a period, and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from incentives.entrypoints.schemas import EligibilityAnswer, PeriodQuery
from incentives.handlers import eligibility
from sikader_shared.deps import IncentivesReader, RuntimeDep

router = APIRouter(tags=["incentives"])


@router.get("/eligibility/{cadre_id}", response_model=EligibilityAnswer)
async def get_eligibility(
    cadre_id: str, runtime: RuntimeDep, _: IncentivesReader, period: str | None = PeriodQuery
) -> dict[str, Any]:
    """Whether the cadre is to be paid for the period and why: one reason per rule, in
    English and Indonesian, with the ids of the events behind each fact."""
    async with runtime.uow() as uow:
        return await eligibility.eligibility(uow, cadre_id, period)
