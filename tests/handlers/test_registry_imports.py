"""Registry handlers, the bulk imports: every good row registered (rows, events in the same
order as single registrations, audit), every bad row reported, a re-run registers nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from registry.adapters.tables import AssignmentRow, CadreRow, FacilityAssessmentRow, PosyanduRow
from registry.domain.csvfiles import parse_cadres, parse_posyandu
from registry.handlers import imports
from sikader_shared.db import AuditRecord
from sikader_shared.events import (
    CadreContactChanged,
    CadrePaymentDetailsChanged,
    CadreRegistered,
    PosyanduFacilityAssessed,
    PosyanduRegistered,
)
from sikader_shared.testing.handlers import HandlerHarness
from tests.registry.handler_support import WRITER, config, make_nik

CFG = config()
POSYANDU_CSV = (
    b"name,kelurahan_code,posyandu_type,facility_status,equipment,assessed_by,assessed_on\n"
    b"Posyandu Melati,64.71.06.1002,balita,resident_house,dacin;kia_book,Puskesmas Klandasan Ilir,2026-03-01\n"
    b"Posyandu Mawar,64.71.06.1002,lansia,,,,\n"
    b"Posyandu Melati,64.71.06.1002,ILP,,,,\n"
    b"Posyandu Anggrek,64.71.99.1001,balita,,,,\n"
)


def _cadres_csv() -> bytes:
    birth = date(1990, 8, 15)
    lines = [
        "nik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,payment_method,bank,account_number",
        f"{make_nik(birth, 'F', 1)},Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,Melati,bank,BRI,0012345678",
        f"{make_nik(birth, 'F', 2)},Nur Hidayah,P,1990-08-15,,64.71.06.1002,,,,",
        f"{make_nik(birth, 'F', 1)},Siti Again,P,1990-08-15,,64.71.06.1002,,,,",
        f"{make_nik(birth, 'F', 3)},Wrong Sex,L,1990-08-15,,64.71.06.1002,,,,",
        f"{make_nik(birth, 'F', 4)},No Such,P,1990-08-15,,64.71.06.1002,Kamboja,,,",
    ]
    return ("\n".join(lines) + "\n").encode()


async def _import_posyandu(db: HandlerHarness) -> dict[str, Any]:
    async with db.uow(WRITER) as uow:
        report = await imports.import_posyandu(uow, CFG, parse_posyandu(POSYANDU_CSV, 1000))
        await uow.commit()
    return report


async def test_the_posyandu_import_registers_the_good_rows_with_their_assessments(registry_db: HandlerHarness) -> None:
    report = await _import_posyandu(registry_db)
    assert (report["rows"], report["registered"], report["rejected"]) == (4, 2, 2)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(4, "name"), (5, "kelurahan_code")]
    melati = {r.name: r for r in await registry_db.rows(PosyanduRow)}["Posyandu Melati"]
    [assessment] = await registry_db.rows(FacilityAssessmentRow)
    assert (melati.facility_status, melati.latest_assessment_id) == ("resident_house", assessment.id)
    events = await registry_db.new_events()
    assert [type(e) for e in events] == [PosyanduRegistered, PosyanduFacilityAssessed, PosyanduRegistered]
    assert len(await registry_db.rows(AuditRecord, action="posyandu.import")) == 2

    again = await _import_posyandu(registry_db)
    assert (again["registered"], again["already_registered"]) == (0, 2)
    assert await registry_db.new_events() == [] and len(await registry_db.rows(PosyanduRow)) == 2


async def test_the_cadre_import_registers_the_good_rows_and_reports_each_bad_one(registry_db: HandlerHarness) -> None:
    await _import_posyandu(registry_db)
    await registry_db.new_events()
    async with registry_db.uow(WRITER) as uow:
        report = await imports.import_cadres(uow, CFG, parse_cadres(_cadres_csv(), 1000))
        await uow.commit()
    assert (report["rows"], report["registered"], report["already_registered"], report["rejected"]) == (5, 2, 0, 3)
    assert [(e["line"], e["field"]) for e in report["errors"]] == [(4, "nik"), (5, "nik"), (6, "posyandu_name")]
    events = await registry_db.new_events()
    assert [type(e) for e in events] == [
        CadreRegistered,
        CadreContactChanged,
        CadrePaymentDetailsChanged,
        CadreRegistered,
    ]
    contact = events[1]
    assert (
        isinstance(contact, CadreContactChanged)
        and CFG.cipher("contact").decrypt(contact.phone_enc) == "+6281234567890"
    )
    siti = {r.name: r for r in await registry_db.rows(CadreRow)}["Siti Aminah"]
    [first] = await registry_db.rows(AssignmentRow, cadre_id=siti.id)
    assert first.posyandu_id == siti.posyandu_id and first.reason == "registration"
    assert len(await registry_db.rows(AuditRecord, action="cadre.import")) == 2

    async with registry_db.uow(WRITER) as uow:
        again = await imports.import_cadres(uow, CFG, parse_cadres(_cadres_csv(), 1000))
        await uow.commit()
    assert (again["registered"], again["already_registered"]) == (0, 2)
    assert await registry_db.new_events() == [] and len(await registry_db.rows(CadreRow)) == 2
