"""The verification queue: Posyandu assessed and waiting for a `posyandu:verify` decision,
with what is missing before VERIFIED can succeed. (The decision itself is
POST /posyandu/{id}/verification.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from registry.config import ConfigDep
from registry.entrypoints.schemas import VerificationQueue, exact_location
from registry.handlers import facility
from sikader_shared.deps import RegistryReader, SessionDep
from sikader_shared.paging import Page, paging, set_next_link

router = APIRouter(prefix="/posyandu", tags=["posyandu"])

PII = "registry:pii"
QueuePage = Annotated[Page, Depends(paging(50, 500))]


@router.get("/verification-queue", response_model=VerificationQueue)
async def verification_queue(
    request: Request, response: Response, session: SessionDep, config: ConfigDep, actor: RegistryReader, page: QueuePage
) -> VerificationQueue:
    """Active Posyandu whose latest facility assessment has no decision yet, oldest pending
    assessment first (paged: `limit`, `cursor`, `Link: rel="next"`). Each with its latest
    assessment (equipment), its number of assessments, all its assessments (oldest first), the institution (SK, LKK
    registration, management) and `missing`: what would make VERIFIED fail (`blocking`) or
    is absent, in Indonesian and English, by the rule the decision applies. A Posyandu sent
    back for correction (RETURNED) or decided leaves the queue until a new assessment."""
    items, total, cursor = await facility.verification_queue(session, config, page)
    set_next_link(request, response, cursor)
    return VerificationQueue.model_validate({"items": items, "total": total}, context=exact_location(actor.has(PII)))
