"""Registry handlers, the console's verification work: the queue (oldest pending assessment
first, with what is missing by the rule the decision applies) and RETURNED (sent back for
correction): its event, its state, and what the other events then carry. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import date, timedelta
from typing import Any

import pytest
import pytest_asyncio

from registry.adapters.tables import PosyanduRow, VerificationRow
from registry.domain.commands import AssessmentCreate, PosyanduUpdate, VerificationDecision
from registry.handlers import facility, posyandu
from sikader_shared.errors import Conflict, Invalid
from sikader_shared.events import PosyanduFacilityAssessed, PosyanduFacilityReturned, PosyanduUpdated
from sikader_shared.paging import Page
from sikader_shared.testing.handlers import HandlerHarness
from tests.registry.handler_support import VERIFIER, WRITER, config, posyandu_cmd

CFG = config()
SK = {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"}


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, harness_for: Callable[..., AbstractAsyncContextManager[HandlerHarness]]
) -> AsyncIterator[HandlerHarness]:
    async with harness_for("registry", postgres=request.param == "postgresql") as harness:
        yield harness


def _assessment(on: date, **extra: Any) -> AssessmentCreate:
    return AssessmentCreate.model_validate(
        {
            "facility_status": "resident_house",
            "equipment": [{"item": "dacin", "available": True}, {"item": "muac_tape", "available": False}],
            "assessed_by": "Puskesmas Klandasan Ilir",
            "assessed_on": on.isoformat(),
            **extra,
        }
    )


async def _registered(db: HandlerHarness, name: str, assessed_on: date | None, **extra: Any) -> str:
    async with db.uow(WRITER) as uow:
        row = await posyandu.register_posyandu(uow, CFG, posyandu_cmd(name, **extra))
        if assessed_on is not None:
            await facility.assess_facility(uow, CFG, row.id, _assessment(assessed_on))
        await uow.commit()
    return row.id


async def _decide(db: HandlerHarness, pid: str, decision: str, reason: str | None = None) -> None:
    async with db.uow(VERIFIER) as uow:
        await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision=decision, reason=reason))
        await uow.commit()


async def _queue(db: HandlerHarness, limit: int = 50, cursor: str | None = None) -> tuple[list[Any], int, str | None]:
    async with db.sessions() as session:
        return await facility.verification_queue(session, CFG, Page(limit, cursor))


async def test_the_queue_lists_pending_assessments_oldest_first_with_what_is_missing(db: HandlerHarness) -> None:
    day = date(2026, 3, 1)
    newer = await _registered(db, "Posyandu Melati", day, institution=SK, management=[{"role": "ketua"}])
    older = await _registered(db, "Posyandu Mawar", day - timedelta(days=5))
    await _registered(db, "Posyandu Anggrek", None)  # never assessed: not waiting for a decision
    decided = await _registered(db, "Posyandu Kenanga", day - timedelta(days=9), institution=SK)
    await _decide(db, decided, "VERIFIED")

    items, total, cursor = await _queue(db)
    assert total == 2 and cursor is None
    assert [i["posyandu"].id for i in items] == [older, newer]
    first = items[0]
    assert first["assessment_count"] == 1 and first["latest_assessment"].assessed_on == day - timedelta(days=5)
    assert [(g["code"], g["blocking"]) for g in first["missing"]] == [
        ("no_sk", True),
        ("no_lkk_registration", False),
        ("no_management", False),
        ("equipment_unavailable", False),
    ]
    assert first["missing"][0]["message_id"].startswith("belum ada SK")
    assert [g["code"] for g in items[1]["missing"]] == ["no_lkk_registration", "equipment_unavailable"]
    assert items[1]["institution"]["sk_number"] == SK["sk_number"]

    # The refusal says what the queue says, and carries the same list.
    async with db.uow(VERIFIER) as uow:
        with pytest.raises(Conflict) as refused:
            await facility.decide_verification(uow, CFG, older, VerificationDecision(decision="VERIFIED"))
    assert refused.value.message == first["missing"][0]["message_en"]
    assert refused.value.details["missing"] == [first["missing"][0]]

    page, _, next_cursor = await _queue(db, limit=1)
    rest, _, last = await _queue(db, limit=1, cursor=next_cursor)
    assert [i["posyandu"].id for i in page + rest] == [older, newer] and last is None


async def test_returned_leaves_the_queue_until_a_new_assessment_and_is_published_as_pending(
    db: HandlerHarness,
) -> None:
    pid = await _registered(db, "Posyandu Melati", date(2026, 3, 1), institution=SK)
    await db.new_events()
    async with db.uow(VERIFIER) as uow:
        with pytest.raises(Invalid, match="reason"):
            await facility.decide_verification(uow, CFG, pid, VerificationDecision(decision="RETURNED"))
    await _decide(db, pid, "RETURNED", "the photo of the scales is unreadable")
    [returned] = await db.new_events()
    [row] = await db.rows(PosyanduRow, id=pid)
    assert isinstance(returned, PosyanduFacilityReturned)
    assert (returned.assessment_id, returned.reason, returned.decided_by) == (
        row.latest_assessment_id,
        "the photo of the scales is unreadable",
        "dinkes",
    )
    assert returned.name == "Posyandu Melati" and returned.facility_status == "resident_house"
    assert row.verification_status == "RETURNED"
    assert [d.decision for d in await db.rows(VerificationRow, posyandu_id=pid)] == ["RETURNED"]
    assert (await _queue(db))[1] == 0
    audit = await db.audit("posyandu", pid)
    assert audit[-1]["after"]["verification_status"] == "RETURNED"

    # Awaiting the correction: neither verified nor returned again; a snapshot says PENDING.
    for decision in ("VERIFIED", "RETURNED"):
        async with db.uow(VERIFIER) as uow:
            with pytest.raises(Conflict, match="sent back for correction"):
                cmd = VerificationDecision(decision=decision, reason="again")
                await facility.decide_verification(uow, CFG, pid, cmd)
    async with db.uow(WRITER) as uow:
        await posyandu.update_posyandu(uow, CFG, pid, PosyanduUpdate.model_validate({"rt": "007"}))
        await uow.commit()
    [updated] = await db.new_events()
    assert isinstance(updated, PosyanduUpdated) and updated.verification_status == "PENDING"

    # The corrected assessment puts it back in the queue; then it can be verified.
    async with db.uow(WRITER) as uow:
        await facility.assess_facility(uow, CFG, pid, _assessment(date(2026, 3, 10)))
        await uow.commit()
    [assessed] = await db.new_events()
    assert isinstance(assessed, PosyanduFacilityAssessed) and assessed.verification_status == "PENDING"
    items, total, _ = await _queue(db)
    assert total == 1 and items[0]["assessment_count"] == 2
    await _decide(db, pid, "VERIFIED")
    [row] = await db.rows(PosyanduRow, id=pid)
    assert row.verification_status == "VERIFIED"


async def test_only_a_pending_assessment_is_sent_back(db: HandlerHarness) -> None:
    never = await _registered(db, "Posyandu Anggrek", None)
    rejected = await _registered(db, "Posyandu Mawar", date(2026, 3, 1))
    await _decide(db, rejected, "REJECTED", "no SK")
    for pid in (never, rejected):
        async with db.uow(VERIFIER) as uow:
            with pytest.raises(Conflict, match="only a pending facility assessment"):
                cmd = VerificationDecision(decision="RETURNED", reason="fix it")
                await facility.decide_verification(uow, CFG, pid, cmd)
