"""Certification's cadre projection: registry events kept (older ones ignored), and the
certificates following their holder's status."""

from __future__ import annotations

import uuid
from datetime import date

from certification.adapters.tables import CadreRow, CertificateRow
from certification.handlers.cadres import cadre_view
from sikader_shared.events import CadreAssigned, CadreUpdated, CertificateRenewed, CertificateSuspended
from sikader_shared.testing.handlers import HandlerHarness
from tests.certification.handlers_support import (
    KECAMATAN,
    assess,
    consume,
    deactivated,
    known_cadre,
    reactivated,
    registered,
)


async def test_snapshots_and_transfers_are_kept_and_an_older_event_changes_nothing(
    certification_db: HandlerHarness,
) -> None:
    siti = registered("Siti Aminah")
    await consume(certification_db, siti, minutes=10)
    older = CadreUpdated(**{**siti.model_dump(), "name": "Siti Lama", "updated_at": siti.registered_at})
    await consume(certification_db, older, minutes=5)  # re-published late: ignored
    moved = CadreAssigned(
        cadre_id=siti.cadre_id,
        kelurahan_code="64.71.03.1002",
        kecamatan_code="64.71.03",
        posyandu_id=str(uuid.uuid4()),
        assigned_on=date(2026, 3, 15),
    )
    await consume(certification_db, moved, minutes=20)
    [row] = await certification_db.rows(CadreRow, cadre_id=siti.cadre_id)
    assert (row.name, row.status, row.kelurahan_code, row.posyandu_id) == (
        "Siti Aminah",
        "active",
        "64.71.03.1002",
        moved.posyandu_id,
    )
    assert await certification_db.events() == []  # the projection emits nothing by itself
    async with certification_db.sessions() as session:
        assert (await cadre_view(session, siti.cadre_id)).level is None


async def test_deactivation_suspends_the_certificate_and_reactivation_restores_it(
    certification_db: HandlerHarness,
) -> None:
    cadre_id = await known_cadre(certification_db)
    outcome = await assess(certification_db, cadre_id, "1", "2", "3")
    await certification_db.new_events()

    await consume(certification_db, deactivated(cadre_id), minutes=1)
    [suspended] = await certification_db.new_events()
    assert isinstance(suspended, CertificateSuspended)
    assert (suspended.certificate_id, suspended.status, suspended.reason) == (
        outcome.certificate.certificate_id,
        "suspended",
        "cadre_deactivated",
    )
    assert suspended.kecamatan_code == KECAMATAN

    await consume(certification_db, reactivated(cadre_id), minutes=2)
    [renewed] = await certification_db.new_events()
    assert isinstance(renewed, CertificateRenewed) and renewed.basis == "reactivation" and renewed.status == "valid"
    [cert] = await certification_db.rows(CertificateRow, cadre_id=cadre_id)
    assert (cert.status, cert.status_reason) == ("valid", None)
    audit = await certification_db.audit("certificate", cert.certificate_id)
    assert [a["action"] for a in audit] == ["certificate.issue", "certificate.suspend", "certificate.restore"]


async def test_an_older_deactivation_arriving_late_leaves_the_certificate_alone(
    certification_db: HandlerHarness,
) -> None:
    cadre_id = await known_cadre(certification_db)
    await assess(certification_db, cadre_id, "1", "2", "3")
    await certification_db.new_events()
    await consume(certification_db, reactivated(cadre_id), minutes=10)
    await consume(certification_db, deactivated(cadre_id), minutes=5)  # older than the status we hold
    assert await certification_db.new_events() == []
    [cert] = await certification_db.rows(CertificateRow, cadre_id=cadre_id)
    assert cert.status == "valid"
