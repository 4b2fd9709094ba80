"""A Posyandu's facility: assessments (kept as history) and verification by the Dinas
Kesehatan (`posyandu:verify`), which covers the latest assessment and the institution."""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters import repository
from registry.adapters.tables import FacilityAssessmentRow, PosyanduRow, VerificationRow
from registry.config import RegistryConfig
from registry.domain import posyandu as posyandu_rules
from registry.domain.commands import AssessmentCreate, VerificationDecision
from registry.handlers.common import domain_refusals, invalid, today
from registry.handlers.posyandu import find_posyandu, get_posyandu
from sikader_shared.errors import Conflict
from sikader_shared.events import (
    EquipmentItem,
    PosyanduFacilityAssessed,
)
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler
from sikader_shared.paging import Page, split_page
from sikader_shared.uow import UnitOfWork

# The registry consumes no events about facilities (it is their source).
EVENT_HANDLERS: dict[type[Event], Handler] = {}


def new_assessment(uow: UnitOfWork, posyandu_id: str, cmd: AssessmentCreate) -> FacilityAssessmentRow:
    return FacilityAssessmentRow(
        id=str(uuid.uuid4()),
        posyandu_id=posyandu_id,
        facility_status=cmd.facility_status,
        equipment=[e.model_dump(mode="json") for e in cmd.equipment],
        photo_refs=list(cmd.photo_refs),
        assessed_by=cmd.assessed_by,
        assessed_on=cmd.assessed_on,
        notes=cmd.notes,
        recorded_by=uow.actor.client_id,
        recorded_at=uow.clock.now(),
    )


def assessed_event(row: PosyanduRow, assessment: FacilityAssessmentRow) -> PosyanduFacilityAssessed:
    return PosyanduFacilityAssessed(
        posyandu_id=row.id,
        kelurahan_code=row.kelurahan_code,
        kecamatan_code=row.kecamatan_code,
        assessment_id=assessment.id,
        facility_status=assessment.facility_status,
        equipment=[EquipmentItem(**e) for e in assessment.equipment],
        photo_refs=list(assessment.photo_refs),
        assessed_by=assessment.assessed_by,
        assessed_on=assessment.assessed_on,
        verification_status=row.verification_status,
    )


async def assess_facility(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: AssessmentCreate
) -> FacilityAssessmentRow:
    """A new assessment is kept beside the earlier ones and calls for re-verification."""
    row = await get_posyandu(uow, posyandu_id)
    if row.status != "active":
        raise Conflict(f"the Posyandu is {row.status}; its facility can no longer be assessed")
    if cmd.assessed_on > today(uow):
        raise invalid("assessed_on", "the assessment date is in the future")
    assessment = new_assessment(uow, row.id, cmd)
    before = {"facility_status": row.facility_status, "verification_status": row.verification_status}
    row.facility_status = assessment.facility_status
    row.latest_assessment_id = assessment.id
    row.verification_status = "PENDING"
    row.updated_at = uow.clock.now()
    uow.session.add_all([assessment, row])
    uow.emit(assessed_event(row, assessment))
    after = {"assessment_id": assessment.id, "facility_status": row.facility_status, "verification_status": "PENDING"}
    uow.audit("posyandu.assess", "posyandu", row.id, before, after)
    return assessment


def verification_state(row: PosyanduRow, latest: FacilityAssessmentRow | None) -> posyandu_rules.VerificationState:
    """What the verification rules look at: the Posyandu and its latest assessment."""
    institution = row.institution or {}
    equipment = latest.equipment if latest is not None else []
    return posyandu_rules.VerificationState(
        status=row.status,  # type: ignore[arg-type]
        verification_status=row.verification_status,  # type: ignore[arg-type]
        has_assessment=row.latest_assessment_id is not None,
        has_sk=bool(institution.get("sk_number")),
        has_lkk_registration=bool(institution.get("lkk_registration_number")),
        has_management=bool(row.management),
        unavailable_equipment=tuple(e["item"] for e in equipment if not e.get("available", True)),
    )


async def decide_verification(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: VerificationDecision
) -> VerificationRow:
    row = await get_posyandu(uow, posyandu_id)
    latest = (
        await uow.session.get(FacilityAssessmentRow, row.latest_assessment_id) if row.latest_assessment_id else None
    )
    state = verification_state(row, latest)
    facts = posyandu_rules.VerifiedFacts(
        row.id, row.kelurahan_code, row.kecamatan_code, row.name, row.latest_assessment_id, row.facility_status
    )
    now = uow.clock.now()
    with domain_refusals():
        event = posyandu_rules.decide_verification(
            state, facts, cmd.decision, cmd.reason, cmd.note, uow.actor.client_id, now, cfg.verification_requires_sk
        )
    decision = VerificationRow(
        posyandu_id=row.id,
        assessment_id=row.latest_assessment_id,
        decision=cmd.decision,
        reason=cmd.reason,
        note=cmd.note,
        decided_by=uow.actor.client_id,
        decided_at=now,
    )
    before = {"verification_status": row.verification_status}
    row.verification_status = cmd.decision
    row.updated_at = now
    uow.session.add_all([decision, row])
    uow.emit(event)
    after = {"verification_status": cmd.decision, "reason": cmd.reason}
    uow.audit("posyandu.verify", "posyandu", row.id, before, after)
    return decision


# --------------------------------------------------------------------------- reads


async def assessments(
    session: AsyncSession, posyandu_id: str, page: Page
) -> tuple[list[FacilityAssessmentRow], str | None]:
    """A page of the Posyandu's assessments, oldest first, and the next page's cursor."""
    await find_posyandu(session, posyandu_id)
    rows = await repository.assessments(session, posyandu_id, repository.Position(page.limit + 1, page.after()))
    return split_page(rows, page, repository.assessment_key)


async def verifications(
    session: AsyncSession, posyandu_id: str, page: Page
) -> tuple[list[VerificationRow], str | None]:
    """A page of the decisions on the Posyandu, oldest first, and the next page's cursor."""
    await find_posyandu(session, posyandu_id)
    rows = await repository.verifications(session, posyandu_id, repository.Position(page.limit + 1, page.after()))
    return split_page(rows, page, lambda v: [v.id])


async def verification_queue(
    session: AsyncSession, cfg: RegistryConfig, page: Page
) -> tuple[list[dict[str, Any]], int, str | None]:
    """A page of the Posyandu waiting for a verification decision (oldest pending assessment
    first), each with its assessments (read for the whole page at once) and what is missing
    before VERIFIED can succeed (the rule the decision applies); the number waiting; the next
    page's cursor."""
    rows, total = await repository.verification_queue(session, repository.Position(page.limit + 1, page.after()))
    rows, cursor = split_page(rows, page, repository.queue_key)
    history = await repository.assessments_of(session, [posyandu.id for posyandu, _, _ in rows])
    items = []
    for posyandu, latest, count in rows:
        gaps = posyandu_rules.verification_gaps(verification_state(posyandu, latest), cfg.verification_requires_sk)
        items.append(
            {
                "posyandu": posyandu,
                "latest_assessment": latest,
                "assessment_count": count,
                "assessments": history[posyandu.id],
                "institution": {**(posyandu.institution or {}), "management": posyandu.management},
                "missing": [g.as_dict() for g in gaps],
            }
        )
    return items, total, cursor
