"""Certification's certificates: revocation, the expiry sweep (announce once, expire on the
date), public verification, the paged list by holder, and the refusals."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from certification.adapters.tables import CertificateRow
from certification.handlers.certificates import certificates_for, revoke_certificate, run_expiry_sweep, verify
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import CertificateExpired, CertificateExpiring, CertificateRevoked
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.certification.handlers_support import assess, at, config, known_cadre

REVOKER = Actor(client_id="dinkes", scopes=frozenset({"certification:revoke"}))


async def test_a_certificate_is_revoked_once_with_its_event_and_audit(certification_db: HandlerHarness) -> None:
    cadre_id = await known_cadre(certification_db)
    issued = (await assess(certification_db, cadre_id, "1", "2", "3")).certificate
    await certification_db.new_events()
    async with certification_db.uow(REVOKER) as uow:
        out = await revoke_certificate(uow, config(), issued.certificate_id, "penilaian tidak sah")
        await uow.commit()
    assert (out.status, out.status_reason) == ("revoked", "penilaian tidak sah")
    [event] = await certification_db.new_events()
    assert isinstance(event, CertificateRevoked) and (event.revoked_by, event.status) == ("dinkes", "revoked")
    [row] = await certification_db.rows(CertificateRow, certificate_id=issued.certificate_id)
    assert (row.status, row.revoked_by) == ("revoked", "dinkes")
    assert [a["action"] for a in await certification_db.audit("certificate", row.certificate_id)][-1] == (
        "certificate.revoke"
    )

    async with certification_db.uow(REVOKER) as uow:
        with pytest.raises(Conflict, match="revoked certificate cannot be revoked"):
            await revoke_certificate(uow, config(), issued.certificate_id, "lagi")
        with pytest.raises(NotFound):
            await revoke_certificate(uow, config(), "no-such-certificate", "lagi")
    assert await certification_db.new_events() == []


async def test_the_sweep_announces_once_then_expires_on_the_date(certification_db: HandlerHarness) -> None:
    cadre_id = await known_cadre(certification_db)
    number = (await assess(certification_db, cadre_id, "1", "2", "3")).certificate.number
    await certification_db.new_events()
    expires_on = date(2029, 3, 15)
    for _ in range(2):  # a second run the same day announces nothing new
        async with certification_db.uow() as uow:
            result = await run_expiry_sweep(uow, at(expires_on - timedelta(days=30)), notice_days=30)
            await uow.commit()
    assert (result.announced, result.expired) == ([], [])
    [expiring] = await certification_db.new_events()
    assert isinstance(expiring, CertificateExpiring) and expiring.days_left == 30

    async with certification_db.uow() as uow:
        result = await run_expiry_sweep(uow, at(expires_on), notice_days=30)
        await uow.commit()
    assert result.expired == [number]
    [expired] = await certification_db.new_events()
    assert isinstance(expired, CertificateExpired) and expired.status == "expired" and expired.expired_on == expires_on


async def test_verification_shows_the_holder_only_with_the_check_code(certification_db: HandlerHarness) -> None:
    cadre_id = await known_cadre(certification_db, "Siti Aminah")
    number = (await assess(certification_db, cadre_id, "1", "2", "3")).certificate.number
    [row] = await certification_db.rows(CertificateRow, cadre_id=cadre_id)
    async with certification_db.sessions() as session:
        plain = await verify(session, number, at(date(2026, 3, 16)))
        coded = await verify(session, number, at(date(2026, 3, 16)), row.check_code)
        wrong = await verify(session, number, at(date(2026, 3, 16)), "not-the-code")
        unknown = await verify(session, "SKD/6471/2026/PURWA/999999", at(date(2026, 3, 16)))
    assert (plain.status, plain.level, plain.holder) == ("valid", "Purwa", None)
    assert coded.holder == "Siti A***h" and wrong.holder is None
    assert unknown.status == "unknown" and unknown.level is None


async def test_a_holders_certificates_come_in_pages_and_a_foreign_cursor_is_refused(
    certification_db: HandlerHarness,
) -> None:
    cadre_id = await known_cadre(certification_db)
    for groups in (("1", "2", "3"), ("4",), ("5",)):
        await assess(certification_db, cadre_id, *groups)
    async with certification_db.sessions() as session:
        first = await certificates_for(session, config(), cadre_id, None, 2)
        rest = await certificates_for(
            session, config(), cadre_id, [first[-1].issued_on.isoformat(), first[-1].number], 2
        )
        with pytest.raises(Invalid):
            await certificates_for(session, config(), cadre_id, [1], 2)
    # (issued_on, number) order: issued the same day, they come by number (its level part)
    assert [c.level for c in first + rest] == ["Madya", "Purwa", "Utama"]
