"""Certification's console reads: certified cadres per area and level (current valid
certificates only, with totals), certificates expiring per window (WITA dates, soonest
first, paged) and the list of trainings (newest first, by status, paged)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta

import pytest

from certification.adapters.tables import CertificateRow
from certification.entrypoints.schemas import TrainingCompletion, TrainingCreate
from certification.handlers.certificates import revoke_certificate
from certification.handlers.statistics import certified, expiring, expiring_counts, expiring_page_key
from certification.handlers.trainings import complete_training, create_training, list_trainings, training_page_key
from sikader_shared.errors import Invalid
from sikader_shared.events import CadreAssigned, CadreRegistered
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.certification.handlers_support import TODAY, TRAINER, assess, at, config, consume, registered

REVOKER = Actor(client_id="dinkes", scopes=frozenset({"certification:revoke"}))
KEC_A, KEL_A1, KEL_A2 = "64.71.02", "64.71.02.1001", "64.71.02.1002"
KEC_B, KEL_B1 = "64.71.05", "64.71.05.1003"


def in_area(event: CadreRegistered, kecamatan: str, kelurahan: str) -> CadreRegistered:
    return event.model_copy(update={"kecamatan_code": kecamatan, "kelurahan_code": kelurahan})


async def cadre_in(db: HandlerHarness, kecamatan: str, kelurahan: str, name: str = "Siti Aminah") -> str:
    event = in_area(registered(name), kecamatan, kelurahan)
    await consume(db, event)
    return event.cadre_id


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
async def test_certified_cadres_per_kecamatan_kelurahan_and_level_with_totals(
    harness_for: Callable[..., AbstractAsyncContextManager[HandlerHarness]], postgres: bool
) -> None:
    async with harness_for("certification", postgres=postgres) as db:
        purwa = [await cadre_in(db, KEC_A, KEL_A1) for _ in range(2)]
        madya = await cadre_in(db, KEC_A, KEL_A2)
        utama = await cadre_in(db, KEC_B, KEL_B1)
        revoked = await cadre_in(db, KEC_B, KEL_B1)
        uncertified = await cadre_in(db, KEC_B, KEL_B1)
        for cadre_id in [*purwa, revoked]:
            await assess(db, cadre_id, "1", "2", "3")
        await assess(db, madya, "1", "2", "3", "4")
        await assess(db, utama, "1", "2", "3", "4", "5")
        [cert] = await _certs(db, revoked)
        async with db.uow(REVOKER) as uow:
            await revoke_certificate(uow, config(), cert, "penilaian tidak sah")
            await uow.commit()
        assert uncertified  # registered, never assessed: not counted
        # a transfer moves the holder's row to the new kelurahan (CadreAssigned, newer)
        moved = CadreAssigned(
            cadre_id=purwa[1],
            kelurahan_code=KEL_B1,
            kecamatan_code=KEC_B,
            posyandu_id=str(uuid.uuid4()),
            assigned_on=TODAY,
        )
        await consume(db, moved, minutes=5)

        async with db.sessions() as session:
            stats = await certified(session, at(TODAY))
            later = await certified(session, at(date(2029, 3, 15)))  # the expiry date: none valid
    zero = {"Purwa": 0, "Madya": 0, "Utama": 0}
    assert stats.as_of == TODAY and stats.levels == ["Purwa", "Madya", "Utama"]
    assert [(r.kecamatan_code, r.by_level, r.total) for r in stats.kecamatan] == [
        (KEC_A, {**zero, "Purwa": 1, "Madya": 1}, 2),
        (KEC_B, {**zero, "Purwa": 1, "Utama": 1}, 2),
    ]
    assert [(r.kelurahan_code, r.kecamatan_code, r.by_level, r.total) for r in stats.kelurahan] == [
        (KEL_A1, KEC_A, {**zero, "Purwa": 1}, 1),
        (KEL_A2, KEC_A, {**zero, "Madya": 1}, 1),
        (KEL_B1, KEC_B, {**zero, "Purwa": 1, "Utama": 1}, 2),
    ]
    assert (stats.city.by_level, stats.city.total) == ({"Purwa": 2, "Madya": 1, "Utama": 1}, 4)
    assert (later.kecamatan, later.city.total) == ([], 0)


async def _certs(db: HandlerHarness, cadre_id: str) -> list[str]:
    return [c.certificate_id for c in await db.rows(CertificateRow, cadre_id=cadre_id)]


async def test_expiring_certificates_per_window_soonest_first_in_pages(certification_db: HandlerHarness) -> None:
    db = certification_db
    issued = {}
    for days in (0, 40, 70, 100):  # issued on different days: they expire 0/40/70/100 days apart
        db.clock.set(at(TODAY + timedelta(days=days)))
        cadre_id = await cadre_in(db, KEC_A, KEL_A1, f"Kader {days}")
        issued[days] = (await assess(db, cadre_id, "1", "2", "3", on=TODAY + timedelta(days=days))).certificate
    first_expiry = issued[0].expires_on  # 2029-03-15
    # 10 days before the first expiry, WITA: the certificates are 10, 50, 80 and 110 days away
    now = at(first_expiry - timedelta(days=10))
    async with db.sessions() as session:
        counts = await expiring_counts(session, now)
        within_90 = await expiring(session, now, 90, None, 10)
        page1 = await expiring(session, now, 90, None, 2)
        page2 = await expiring(session, now, 90, expiring_page_key(page1[-1]), 2)
        within_30 = await expiring(session, now, 30, None, 10)
        with pytest.raises(Invalid, match="within_days must be one of 30, 60, 90"):
            await expiring(session, now, 45, None, 10)
        with pytest.raises(Invalid):
            await expiring(session, now, 30, ["not-a-date", 1], 10)
        at_expiry = await expiring_counts(session, at(first_expiry))  # expires on its date: gone
    assert (counts.within_30, counts.within_60, counts.within_90) == (1, 2, 3)
    assert [c.days_left for c in within_90] == [10, 50, 80]
    assert [c.number for c in page1 + page2] == [c.number for c in within_90]
    assert within_30[0].holder_name == "Kader 0" and within_30[0].kelurahan_code == KEL_A1
    assert within_30[0].valid_until == first_expiry and within_30[0].level == "Purwa"
    assert (at_expiry.within_30, at_expiry.within_90) == (0, 2)  # 40 and 70 days later


async def test_trainings_newest_first_by_status_in_pages(certification_db: HandlerHarness) -> None:
    db = certification_db
    cadre_id = await cadre_in(db, KEC_A, KEL_A1)
    ids = []
    for offset in (0, 10, 20):
        cmd = TrainingCreate(
            title=f"Pelatihan {offset}",
            skill_codes=["2.1"],
            started_on=TODAY - timedelta(days=30 - offset),
            ends_on=TODAY - timedelta(days=29 - offset),
            participants=[cadre_id],
        )
        async with db.uow(TRAINER) as uow:
            ids.append((await create_training(uow, config(), cmd)).training_id)
            await uow.commit()
    async with db.uow(TRAINER) as uow:
        await complete_training(uow, config(), ids[0], TrainingCompletion(attended=[cadre_id]))
        await uow.commit()
    async with db.sessions() as session:
        every = await list_trainings(session, None, None, 10)
        first = await list_trainings(session, None, None, 2)
        rest = await list_trainings(session, None, training_page_key(first[-1]), 2)
        scheduled = await list_trainings(session, "scheduled", None, 10)
        completed = await list_trainings(session, "completed", None, 10)
    assert [t.training_id for t in every] == ids[::-1]
    assert [t.training_id for t in first + rest] == ids[::-1]
    assert [t.training_id for t in scheduled] == ids[:0:-1]
    assert [(t.training_id, t.participants, t.attended, t.status) for t in completed] == [(ids[0], 1, 1, "completed")]
    assert (every[0].participants, every[0].attended, every[0].created_by) == (1, 0, "dinkes")
