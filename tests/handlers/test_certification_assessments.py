"""Certification's assessments: results and badges, and the certificate the badges decide
(issued, superseded by a higher level, renewed by a passed re-assessment), and refusals."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date

import pytest

from certification.adapters.tables import AssessmentRow, BadgeRow, CertificateRow
from certification.entrypoints.schemas import AssessmentCreate, SkillResult
from certification.handlers.assessments import record_assessment
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import CadreCertified, CertificateRenewed, CertificateSuperseded, SkillAssessed
from sikader_shared.testing.handlers import HandlerHarness
from tests.certification.handlers_support import ASSESSOR, assess, config, consume, deactivated, known_cadre


async def test_reaching_purwa_issues_madya_supersedes_and_a_reassessment_renews(
    certification_db: HandlerHarness,
) -> None:
    cadre_id = await known_cadre(certification_db)
    purwa = await assess(certification_db, cadre_id, "1", "2", "3", on=date(2026, 1, 5))
    assert (purwa.level, purwa.certificate_action, purwa.complete_groups) == ("Purwa", "issue", ["1", "2", "3"])
    events = await certification_db.new_events()
    assert [type(e) for e in events] == [SkillAssessed] * 15 + [CadreCertified]
    certified = events[-1]
    assert isinstance(certified, CadreCertified)
    assert certified.certificate_number == purwa.certificate.number and certified.cadre_name == "Siti Aminah"
    assert certified.verify_url.endswith("/verify?code=" + (await _check_code(certification_db, cadre_id)))
    assert len(await certification_db.rows(BadgeRow, cadre_id=cadre_id)) == 15

    madya = await assess(certification_db, cadre_id, "4")
    assert (madya.level, madya.certificate_action) == ("Madya", "issue")
    assert madya.superseded_certificate_id == purwa.certificate.certificate_id
    *assessed, new, old = await certification_db.new_events()
    assert len(assessed) == 5 and isinstance(new, CadreCertified) and isinstance(old, CertificateSuperseded)
    assert (old.superseded_by_number, old.new_level, old.status) == (new.certificate_number, "Madya", "superseded")

    again = await assess(certification_db, cadre_id, "4")
    assert (again.level, again.certificate_action) == ("Madya", "renew")
    *_, renewed = await certification_db.new_events()
    assert isinstance(renewed, CertificateRenewed) and renewed.basis == "reassessment"
    statuses = sorted((c.level, c.status) for c in await certification_db.rows(CertificateRow, cadre_id=cadre_id))
    assert statuses == [("Madya", "valid"), ("Purwa", "superseded")]


async def test_a_failed_only_assessment_records_results_without_a_certificate(certification_db: HandlerHarness) -> None:
    cadre_id = await known_cadre(certification_db)
    cmd = AssessmentCreate(
        cadre_id=cadre_id,
        assessor="Puskesmas Damai",
        assessed_on=date(2026, 3, 14),
        results=[SkillResult(skill_code="1.1", passed=False, notes="belum")],
    )
    async with certification_db.uow(ASSESSOR) as uow:
        outcome = await record_assessment(uow, config(), cmd)
        await uow.commit()
    assert (outcome.certificate_action, outcome.badges, outcome.certificate) == ("none", [], None)
    [event] = await certification_db.new_events()
    assert isinstance(event, SkillAssessed) and not event.passed and event.badge_id is None
    [row] = await certification_db.rows(AssessmentRow, cadre_id=cadre_id)
    assert (row.notes, row.recorded_by) == ("belum", "puskesmas-ki")


async def test_unknown_inactive_and_future_assessments_are_refused_and_nothing_is_written(
    certification_db: HandlerHarness,
) -> None:
    cadre_id = await known_cadre(certification_db)
    with pytest.raises(NotFound):
        await assess(certification_db, "no-such-cadre", "1")
    with pytest.raises(Invalid, match="future"):
        await assess(certification_db, cadre_id, "1", on=date(2026, 3, 16))
    await consume(certification_db, deactivated(cadre_id), minutes=1)
    with pytest.raises(Conflict, match="inactive"):
        await assess(certification_db, cadre_id, "1", "2", "3")
    assert await certification_db.rows(AssessmentRow) == []
    assert await certification_db.events() == []


async def test_certificate_numbers_follow_the_yearly_sequence_on_postgresql(
    harness_for: Callable[..., AbstractAsyncContextManager[HandlerHarness]],
) -> None:
    """The sequence row is created on conflict-do-nothing and drawn under its row lock, and
    the cadre row is locked (FOR UPDATE): PostgreSQL when TEST_DATABASE_URL names one."""
    async with harness_for("certification", postgres=True) as db:
        siti, ani = await known_cadre(db, "Siti Aminah"), await known_cadre(db, "Ani Lestari")
        first = await assess(db, siti, "1", "2", "3")
        second = await assess(db, ani, "1", "2", "3", "4")
    assert first.certificate.number == "SKD/6471/2026/PURWA/000001"
    assert second.certificate.number == "SKD/6471/2026/MADYA/000002"


async def _check_code(db: HandlerHarness, cadre_id: str) -> str:
    [cert] = await db.rows(CertificateRow, cadre_id=cadre_id)
    return str(cert.check_code)
