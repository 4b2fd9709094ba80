"""Incentives for the console: the fairness flag (amount per active cadre against the city's
median kelurahan), what changed since the previous calculated period (added, dropped,
amounts moved, Posyandu verification, each with its cause; counts, pages) and one cadre's
amount explained (JSON and the printable page)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any

import pytest

from incentives.adapters.tables import PosyanduRow
from incentives.handlers import changes, explanations, periods, reviews
from sikader_shared import events as ev
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.incentives.city import PERIOD, feed, small_city
from tests.incentives.helpers import KEL_A, KEL_B, Registry

DINKES = Actor("dinkes", key_id="k-dinkes", scopes=frozenset({"incentives:calculate"}))
APRIL = "2026-04"


async def calculate(db: HandlerHarness, period: str) -> None:
    async with db.uow(DINKES) as uow:
        await periods.calculate(uow, period)
        await uow.commit()


async def a_month_later(db: HandlerHarness, city: dict[str, Any]) -> dict[str, Any]:
    """April: Posyandu B verified (its cadre added), A2 deactivated (dropped), A1 certified
    Utama (350,000 -> 500,000); then April is calculated."""
    db.clock.set(datetime(2026, 4, 20, 2, 0, tzinfo=UTC))
    a0, a1, a2 = city["a"]
    verified = ev.PosyanduFacilityVerified(
        posyandu_id=city["pb"],
        kelurahan_code=KEL_B,
        kecamatan_code=KEL_B[:8],
        name="Posyandu 1002",
        verified_by="dinkes",
        verified_at=datetime(2026, 4, 1, 2, tzinfo=UTC),
    )
    gone = ev.CadreDeactivated(
        cadre_id=a2, kelurahan_code=KEL_A, kecamatan_code=KEL_A[:8], reason="pindah", effective_on=date(2026, 4, 2)
    )
    await feed(db, verified, gone, Registry.certified(a1, "Utama", KEL_A))
    await calculate(db, APRIL)
    return {"a0": a0, "a1": a1, "a2": a2, "b0": city["b"][0]}


@pytest.mark.parametrize("postgres", [False, True], ids=["sqlite", "postgresql"])
async def test_changes_since_the_previous_calculated_period_with_their_causes(
    harness_for: Callable[..., AbstractAsyncContextManager[HandlerHarness]], postgres: bool
) -> None:
    async with harness_for("incentives", postgres=postgres) as db:
        city = await small_city(db)
        await calculate(db, PERIOD)
        async with db.sessions() as session:
            with pytest.raises(Conflict, match="nothing to compare with"):
                await changes.period_changes(session, PERIOD, 100)
            with pytest.raises(NotFound, match="has not been calculated"):
                await changes.period_changes(session, APRIL, 100)
        c = await a_month_later(db, city)
        async with db.sessions() as session:
            report = await changes.period_changes(session, APRIL, 100)
            counts_only = await changes.period_changes(session, APRIL, 0)
            first = await changes.change_page(session, APRIL, "added", None, 1)
            after = await changes.change_page(session, APRIL, "added", first[0]["cadre_id"], 1)
            with pytest.raises(Invalid):
                await changes.change_page(session, APRIL, "everything", None, 1)
        [verified_row] = await db.rows(PosyanduRow, posyandu_id=city["pb"])

    assert (report["previous_period"], report["policy_version"]) == (PERIOD, "v1")
    expected = {"added": 1, "dropped": 1, "amount_changed": 1, "posyandu_verification": 1}
    assert report["counts"] == counts_only["counts"] == expected
    assert counts_only["added"] == [] and counts_only["more"]["added"] is True
    assert report["more"] == dict.fromkeys(expected, False)

    [added] = report["added"]
    assert (added["cadre_id"], added["eligible_before"], added["eligible_now"]) == (c["b0"], False, True)
    assert (added["amount_before"], added["amount_now"]) == (0, 350_000)
    [cause] = added["causes"]
    assert cause["rule"] == "posyandu_verified" and "VERIFIED" in cause["text_en"]
    assert "terverifikasi" in cause["text_id"] and "PENDING" in cause["before_en"]
    assert verified_row.verification_event_id in cause["source_event_ids"]

    [dropped] = report["dropped"]
    assert (dropped["cadre_id"], dropped["amount_before"], dropped["amount_now"]) == (c["a2"], 250_000, 0)
    assert [x["rule"] for x in dropped["causes"]] == ["cadre_active"]
    assert "nonaktif sejak 2026-04-02" in dropped["causes"][0]["text_id"]

    [moved] = report["amount_changed"]
    assert (moved["cadre_id"], moved["amount_before"], moved["amount_now"]) == (c["a1"], 350_000, 500_000)
    assert [x["rule"] for x in moved["causes"]] == ["level"] and "Madya -> Utama" in moved["causes"][0]["text_en"]

    [posyandu] = report["posyandu_verification"]
    assert (posyandu["posyandu_id"], posyandu["status_before"], posyandu["status_now"]) == (
        city["pb"],
        "PENDING",
        "VERIFIED",
    )
    assert posyandu["cause"]["event_type"] == "PosyanduFacilityVerified"
    assert posyandu["cause"]["event_id"] == verified_row.verification_event_id
    assert str(posyandu["cause"]["on"]).startswith("2026-04-01")
    assert [x["cadre_id"] for x in first + after] == [c["b0"]]


async def test_the_fairness_report_flags_a_kelurahan_far_below_the_city_median(
    incentives_db: HandlerHarness,
) -> None:
    db = incentives_db
    await small_city(db)
    await calculate(db, PERIOD)
    async with db.sessions() as session:
        report = await reviews.fairness(session, PERIOD, 0.8)
        lenient = await reviews.fairness(session, PERIOD, 0.0001)
    by_kel = {k["kelurahan_code"]: k for k in report["kelurahan"]}
    # A: 500,000 + 350,000 + 250,000 for 3 active cadres; B: its Posyandu is not verified
    assert by_kel[KEL_A]["active_cadres"] == 3 and by_kel[KEL_A]["amount_per_cadre"] == 366_666.67
    assert by_kel[KEL_B]["amount_per_cadre"] == 0.0
    assert report["city_median_amount_per_cadre"] == 183_333.33
    assert (by_kel[KEL_A]["ratio_to_median"], by_kel[KEL_A]["below_threshold"]) == (2.0, False)
    assert (by_kel[KEL_B]["ratio_to_median"], by_kel[KEL_B]["below_threshold"]) == (0.0, True)
    assert (report["fairness_flag_ratio"], report["kelurahan_below_threshold"]) == (0.8, 1)
    assert lenient["kelurahan_below_threshold"] == 1  # 0.0 is below any positive threshold
    assert "posyandu_left_out" in report and "evenness" in report  # the report as before


async def test_one_cadres_amount_explained_as_json_and_a_printable_page(incentives_db: HandlerHarness) -> None:
    db = incentives_db
    city = await small_city(db)
    await calculate(db, PERIOD)
    a0, b0 = city["a"][0], city["b"][0]
    async with db.sessions() as session:
        paid = await explanations.decision_explained(session, PERIOD, a0)
        refused = await explanations.decision_explained(session, PERIOD, b0)
        page_id = await explanations.explanation_page(session, PERIOD, b0, "id")
        page_en = await explanations.explanation_page(session, PERIOD, b0, "en")
        with pytest.raises(NotFound):
            await explanations.decision_explained(session, PERIOD, "no-such-cadre")
        with pytest.raises(NotFound, match="has not been calculated"):
            await explanations.decision_explained(session, "2026-02", a0)
    assert (paid["policy"]["version"], paid["eligible"], paid["level"], paid["amount"]) == (
        "v1",
        True,
        "Utama",
        500_000,
    )
    steps = paid["amount_steps"]
    assert (steps["before_cap"], steps["cap_per_posyandu"], steps["posyandu_rank"], steps["cap_applied"]) == (
        500_000,
        5,
        1,
        False,
    )
    assert steps["after_cap"] == steps["amount"] == 500_000
    rules = {r["rule"]: r for r in paid["rules"]}
    assert list(rules) == [
        "cadre_active",
        "certificate_valid",
        "posyandu_verified",
        "posyandu_open",
        "posyandu_cap",
        "budget",
    ]
    assert rules["certificate_valid"]["facts"]["level"] == "Utama" and rules["certificate_valid"]["source_event_ids"]
    assert rules["budget"]["required"] is False  # no ceiling in v1
    assert (refused["eligible"], refused["amount_steps"]["before_cap"]) == (False, 0)
    assert [r["rule"] for r in refused["rules"] if not r["passed"]] == ["posyandu_verified"]
    assert page_id.startswith("<!DOCTYPE html>") and 'lang="id"' in page_id
    assert "Tidak berhak menerima insentif" in page_id and "belum terverifikasi" in page_id
    assert "Not eligible for the incentive" in page_en and "not VERIFIED" in page_en
    for page in (page_id, page_en):
        assert "<script" not in page and "http" not in page and "<link" not in page
