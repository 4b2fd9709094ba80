"""Skill assessments, and the certificates they issue, supersede or renew."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from certification.config import ConfigDep
from certification.entrypoints.schemas import ERRORS, AssessmentCreate, AssessmentOutcome
from certification.handlers import assessments
from sikader_shared.deps import Assessor
from sikader_shared.http import execute_write
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["assessments"], responses=ERRORS)


@router.post("/assessments", status_code=201, response_model=AssessmentOutcome)
async def assess(body: AssessmentCreate, request: Request, actor: Assessor, config: ConfigDep) -> JSONResponse:
    """Pass/fail per skill (SkillAssessed each; a pass is a badge). Reaching a level issues
    a certificate (CadreCertified), a higher one supersedes the old, a passed
    re-assessment at the same level renews it."""

    async def op(uow: UnitOfWork) -> AssessmentOutcome:
        return await assessments.record_assessment(uow, config, body)

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))
