"""Registry handlers, the Posyandu aggregate: registration, changes, facility assessment,
verification, closure with its cadres. Rows, outbox events and audit entries."""

from __future__ import annotations

from datetime import date

import pytest

from registry.adapters.tables import AssignmentRow, CadreRow, FacilityAssessmentRow, PosyanduRow, VerificationRow
from registry.domain.commands import AssessmentCreate, PosyanduClosure, PosyanduUpdate, VerificationDecision
from registry.handlers import cadres, facility, posyandu
from sikader_shared.errors import Conflict, Invalid
from sikader_shared.events import (
    CadreAssigned,
    CadreUpdated,
    PosyanduClosed,
    PosyanduFacilityAssessed,
    PosyanduFacilityRejected,
    PosyanduFacilityVerified,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.testing.handlers import HandlerHarness
from tests.registry.handler_support import VERIFIER, WRITER, cadre_cmd, config, posyandu_cmd

CFG = config()
ASSESSMENT = AssessmentCreate.model_validate(
    {
        "facility_status": "resident_house",
        "equipment": [{"item": "dacin", "available": True, "functional": True}],
        "assessed_by": "Puskesmas Klandasan Ilir",
        "assessed_on": "2026-03-01",
    }
)


async def _register(db: HandlerHarness, name: str = "Posyandu Melati", **extra: object) -> str:
    async with db.uow(WRITER) as uow:
        row = await posyandu.register_posyandu(uow, CFG, posyandu_cmd(name, **extra))
        await uow.commit()
    return row.id


async def test_registering_writes_the_row_the_event_and_the_audit_and_a_second_of_the_name_is_refused(
    registry_db: HandlerHarness,
) -> None:
    pid = await _register(registry_db)
    [row] = await registry_db.rows(PosyanduRow, id=pid)
    assert (row.name_key, row.kecamatan_code, row.verification_status) == ("melati", "64.71.06", "PENDING")
    [event] = await registry_db.new_events()
    assert isinstance(event, PosyanduRegistered) and event.posyandu_id == pid and event.name == "Posyandu Melati"
    assert [a["action"] for a in await registry_db.audit("posyandu", pid)] == ["posyandu.register"]

    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Conflict) as refused:
            await posyandu.register_posyandu(uow, CFG, posyandu_cmd("MELATI "))
    assert refused.value.details["existing_posyandu_id"] == pid
    assert await registry_db.new_events() == [] and len(await registry_db.rows(PosyanduRow)) == 1


async def test_an_update_publishes_the_changed_public_fields_and_a_closed_posyandu_is_not_changed(
    registry_db: HandlerHarness,
) -> None:
    pid = await _register(registry_db)
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        cmd = PosyanduUpdate.model_validate({"name": "Posyandu Melati Indah", "address": "Jl. Mawar 3"})
        await posyandu.update_posyandu(uow, CFG, pid, cmd)
        await uow.commit()
    [event] = await registry_db.new_events()
    assert isinstance(event, PosyanduUpdated) and event.changed == ["name"]  # the address is not published
    [row] = await registry_db.rows(PosyanduRow, id=pid)
    assert (row.name_key, row.address) == ("melati indah", "Jl. Mawar 3")

    async with registry_db.uow(WRITER) as uow:
        await posyandu.close_posyandu(uow, CFG, pid, PosyanduClosure.model_validate({"closure": "closed"}))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Conflict, match="closed"):
            await posyandu.update_posyandu(uow, CFG, pid, PosyanduUpdate.model_validate({"rt": "001"}))
    assert await registry_db.new_events() == []


async def test_assessment_then_verification_and_the_refusals(registry_db: HandlerHarness) -> None:
    pid = await _register(registry_db, institution={"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"})
    await registry_db.new_events()
    async with registry_db.uow(VERIFIER) as uow:
        with pytest.raises(Conflict, match="no facility assessment"):
            await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision="VERIFIED"))
    async with registry_db.uow(WRITER) as uow:
        future = ASSESSMENT.model_copy(update={"assessed_on": date(2026, 4, 1)})
        with pytest.raises(Invalid, match="future"):
            await facility.assess_facility(uow, CFG, pid, future)
    async with registry_db.uow(WRITER) as uow:
        assessment = await facility.assess_facility(uow, CFG, pid, ASSESSMENT)
        await uow.commit()
    [assessed] = await registry_db.new_events()
    assert isinstance(assessed, PosyanduFacilityAssessed) and assessed.assessment_id == assessment.id
    assert len(await registry_db.rows(FacilityAssessmentRow, posyandu_id=pid)) == 1

    async with registry_db.uow(VERIFIER) as uow:
        await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision="VERIFIED", note="on site"))
        await uow.commit()
    [verified] = await registry_db.new_events()
    assert isinstance(verified, PosyanduFacilityVerified) and verified.verified_by == "dinkes"
    [row] = await registry_db.rows(PosyanduRow, id=pid)
    assert (row.verification_status, row.facility_status) == ("VERIFIED", "resident_house")
    [decision] = await registry_db.rows(VerificationRow, posyandu_id=pid)
    assert decision.assessment_id == assessment.id

    async with registry_db.uow(VERIFIER) as uow:
        with pytest.raises(Conflict, match="already VERIFIED"):
            await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision="REJECTED", reason="x"))
    assert await registry_db.new_events() == []


async def test_a_rejection_needs_a_reason_and_is_published(registry_db: HandlerHarness) -> None:
    pid = await _register(registry_db)
    async with registry_db.uow(WRITER) as uow:
        await facility.assess_facility(uow, CFG, pid, ASSESSMENT)
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(VERIFIER) as uow:
        with pytest.raises(Invalid, match="reason"):
            await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision="REJECTED"))
    async with registry_db.uow(VERIFIER) as uow:
        cmd = VerificationDecision(decision="REJECTED", reason="scales not calibrated")
        await facility.decide_verification(uow, CFG, pid, cmd)
        await uow.commit()
    [rejected] = await registry_db.new_events()
    assert isinstance(rejected, PosyanduFacilityRejected) and rejected.reason == "scales not calibrated"


async def test_a_merger_moves_the_cadres_and_a_merger_into_itself_is_refused(registry_db: HandlerHarness) -> None:
    melati, mawar = await _register(registry_db), await _register(registry_db, "Posyandu Mawar")
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1, posyandu_id=melati, kelurahan_code=None))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        with pytest.raises(Invalid, match="cannot be the Posyandu being closed"):
            cmd = PosyanduClosure.model_validate({"closure": "merged", "merged_into_posyandu_id": melati})
            await posyandu.close_posyandu(uow, CFG, melati, cmd)

    async with registry_db.uow(WRITER) as uow:
        cmd = PosyanduClosure.model_validate({"closure": "merged", "merged_into_posyandu_id": mawar})
        result = await posyandu.close_posyandu(uow, CFG, melati, cmd)
        await uow.commit()
    assert result["reassigned_cadre_ids"] == [siti.id] and result["unassigned_cadre_ids"] == []
    closed, assigned = await registry_db.new_events()
    assert isinstance(closed, PosyanduClosed) and closed.merged_into_posyandu_id == mawar
    assert isinstance(assigned, CadreAssigned) and (assigned.previous_posyandu_id, assigned.posyandu_id) == (
        melati,
        mawar,
    )
    [cadre] = await registry_db.rows(CadreRow, id=siti.id)
    assert cadre.posyandu_id == mawar
    history = sorted(await registry_db.rows(AssignmentRow, cadre_id=siti.id), key=lambda a: a.id)
    assert [(a.posyandu_id, a.end_reason) for a in history] == [(melati, "posyandu_merged"), (mawar, None)]


async def test_a_closure_without_a_receiving_posyandu_leaves_the_cadres_unassigned(registry_db: HandlerHarness) -> None:
    pid = await _register(registry_db)
    async with registry_db.uow(WRITER) as uow:
        siti = await cadres.register_cadre(uow, CFG, cadre_cmd(1, posyandu_id=pid, kelurahan_code=None))
        await uow.commit()
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        result = await posyandu.close_posyandu(uow, CFG, pid, PosyanduClosure.model_validate({"closure": "closed"}))
        await uow.commit()
    assert result["unassigned_cadre_ids"] == [siti.id]
    closed, updated = await registry_db.new_events()
    assert isinstance(closed, PosyanduClosed) and closed.reassigned_cadre_ids == []
    assert isinstance(updated, CadreUpdated) and updated.posyandu_id is None
    assert [a["action"] for a in await registry_db.audit("cadre", siti.id)] == ["cadre.register", "cadre.unassign"]
