"""Incentives' commands (handlers.policies, periods, payments) and reads (eligibility,
reviews): the rows, the events and the audit they write, and one refusal each."""

from __future__ import annotations

import pytest

from incentives.adapters.tables import PaymentAttemptRow, PaymentBatchRow, PaymentRow, PeriodRow, PolicyVersionRow
from incentives.domain.policy import DEFAULT_AMOUNTS, REQUIREMENTS
from incentives.handlers import eligibility, payments, periods, policies, reviews
from sikader_shared import events as ev
from sikader_shared.errors import Conflict, Forbidden, Invalid, NotFound
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.incentives.city import CONFIG, PERIOD, small_city

DINKES = Actor("dinkes", key_id="k-dinkes", scopes=frozenset({"incentives:calculate"}))
BPKAD = Actor("bpkad", key_id="k-bpkad", scopes=frozenset({"incentives:approve"}))
BANK = Actor("bank", key_id="k-bank", scopes=frozenset({"incentives:pay"}))


async def calculated_and_approved(db: HandlerHarness) -> dict[str, object]:
    city = await small_city(db)
    await db.new_events()
    async with db.uow(DINKES) as uow:
        await periods.calculate(uow, PERIOD)
        await uow.commit()
    async with db.uow(BPKAD) as uow:
        await periods.approve(uow, PERIOD, None)
        await uow.commit()
    await db.new_events()
    return city


async def test_a_policy_version_is_created_and_one_reaching_into_an_approved_period_is_refused(
    incentives_db: HandlerHarness,
) -> None:
    db = incentives_db
    terms = {"amounts": dict(DEFAULT_AMOUNTS), "requirements": list(REQUIREMENTS), "budget_ceiling": None, "note": ""}
    async with db.uow(Actor("bappeda")) as uow:
        row = await policies.create_policy(uow, effective_from="2026-05", cap_per_posyandu=3, **terms)
        await uow.commit()
    assert row.version == "v2"
    [v2] = await db.rows(PolicyVersionRow, version="v2")
    assert (v2.effective_from, v2.cap_per_posyandu, v2.created_by) == ("2026-05", 3, "bappeda")
    assert [a["action"] for a in await db.audit("policy", "v2")] == ["policy.create"]
    async with db.uow() as uow:
        with pytest.raises(Invalid):
            await policies.create_policy(uow, effective_from="2026-05", cap_per_posyandu=0, **terms)

    await calculated_and_approved(db)
    async with db.uow(Actor("bappeda")) as uow:
        with pytest.raises(Conflict, match="already approved"):
            await policies.create_policy(uow, effective_from="2026-01", cap_per_posyandu=3, **terms)


async def test_calculate_approve_with_segregation_of_duties(incentives_pg: HandlerHarness) -> None:
    db = incentives_pg  # the decision lines are copied out of PostgreSQL for the hash
    city = await small_city(db)
    await db.new_events()
    async with db.uow(DINKES) as uow:
        with pytest.raises(Invalid, match="not started yet"):
            await periods.calculate(uow, "2026-04")
    async with db.uow(DINKES) as uow:
        row = await periods.calculate(uow, PERIOD)
        await uow.commit()
    [calculated] = await db.new_events()
    assert isinstance(calculated, ev.IncentivePeriodCalculated)
    assert (calculated.cadres_evaluated, calculated.eligible_cadres, calculated.total_amount) == (4, 3, 1_100_000)
    assert calculated.decision_hash == row.decision_hash and len(row.decision_hash or "") == 64

    async with db.uow(Actor("dinkes", key_id="k-other")) as uow:
        with pytest.raises(Forbidden, match="segregation of duties"):
            await periods.approve(uow, PERIOD, None)
    async with db.uow(BPKAD) as uow:
        await periods.approve(uow, PERIOD, row.decision_hash)
        await uow.commit()
    [approved] = await db.new_events()
    assert isinstance(approved, ev.IncentivePeriodApproved) and approved.approved_by == "bpkad"
    owed = await db.rows(PaymentRow, period=PERIOD)
    assert sorted(p.cadre_id for p in owed) == sorted(city["a"]) and {p.status for p in owed} == {"pending"}
    [period] = await db.rows(PeriodRow, period=PERIOD)
    assert period.state == "approved"
    assert [a["action"] for a in await db.audit("period", PERIOD)] == ["period.calculate", "period.approve"]


async def test_payment_batch_results_and_close(incentives_db: HandlerHarness) -> None:
    db = incentives_db
    city = await calculated_and_approved(db)
    async with db.uow(BANK) as uow:
        with pytest.raises(Conflict, match="has not answered for every payment"):
            await periods.close(uow, PERIOD)
    async with db.uow(BANK) as uow:
        batch = await payments.export_batch(uow, PERIOD)
        await uow.commit()
    # A2 has no payment details: failed at once, and announced.
    assert (batch.number, batch.lines, batch.without_details, batch.total_amount) == (1, 2, 1, 850_000)
    [failed] = await db.new_events()
    assert isinstance(failed, ev.IncentivePaymentRecorded) and failed.cadre_id == city["a"][2]
    assert len(await db.rows(PaymentAttemptRow, batch_id=batch.batch_id)) == 3

    async with db.uow(BANK) as uow:
        file = await payments.batch_file(uow, PERIOD, batch.batch_id, CONFIG.payment_cipher)  # type: ignore[arg-type]
    lines = file.splitlines()[1:]
    assert len(lines) == 2 and all(",BPD-KALTIMTARA,70" in x for x in lines)
    head = "reference,result,failure_reason,paid_on\n"
    async with db.uow(BANK) as uow:
        with pytest.raises(Conflict, match="contradicts the batch"):
            await payments.record_results(uow, PERIOD, batch.batch_id, head + "INC-NOPE,paid,,2026-03-20\n")
    results = "".join(f"{x.split(',')[0]},paid,,2026-03-20\n" for x in lines)
    async with db.uow(BANK) as uow:
        answer = await payments.record_results(uow, PERIOD, batch.batch_id, head + results)
        await uow.commit()
    assert (answer["paid"], answer["failed"], answer["state"]) == (2, 0, "paid")
    assert [e.result for e in await db.new_events()] == ["paid", "paid"]  # type: ignore[attr-defined]
    assert {p.status for p in await db.rows(PaymentRow, period=PERIOD)} == {"paid", "failed"}

    async with db.uow(BANK) as uow:
        await periods.close(uow, PERIOD)
        await uow.commit()
    [closed] = await db.new_events()
    assert isinstance(closed, ev.IncentivePeriodClosed)
    assert (closed.paid_cadres, closed.paid_amount, closed.failed_cadres) == (2, 850_000, 1)
    async with db.uow(BANK) as uow:
        with pytest.raises(Conflict):
            await payments.export_batch(uow, PERIOD)
    assert len(await db.rows(PaymentBatchRow)) == 1


async def test_eligibility_and_the_review_reads(incentives_db: HandlerHarness) -> None:
    db = incentives_db
    city = await small_city(db)
    async with db.uow() as uow:
        answer = await eligibility.eligibility(uow, city["a"][0], None)
        with pytest.raises(NotFound, match="not known to incentives"):
            await eligibility.eligibility(uow, "nobody", None)
    assert (answer["source"], answer["eligible"], answer["amount"], answer["period_state"]) == (
        "live",
        True,
        500_000,
        "open",
    )
    async with db.sessions() as session:
        with pytest.raises(NotFound, match="has not been calculated"):
            await reviews.decisions(
                session, PERIOD, eligible=None, posyandu_id=None, kelurahan_code=None, after=None, limit=10
            )
    async with db.uow(DINKES) as uow:
        await periods.calculate(uow, PERIOD)
        await uow.commit()
    async with db.sessions() as session:
        page = await reviews.decisions(
            session, PERIOD, eligible=False, posyandu_id=None, kelurahan_code=None, after=None, limit=10
        )
        totals = await reviews.totals(session, PERIOD, "kelurahan", None, 10)
    assert [(d["cadre_id"], d["failed_rules"]) for d in page["items"]] == [(city["b"][0], ["posyandu_verified"])]
    assert [(t["kelurahan_code"], t["cadres"], t["total_amount"]) for t in totals] == [
        ("64.71.01.1001", 3, 1_100_000),
        ("64.71.01.1002", 1, 0),
    ]
