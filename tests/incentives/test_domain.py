"""Unit tests of the incentive rules (no database, no broker)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from incentives.domain import facts as f
from incentives.domain.payments import PaymentLine, ResultFileInvalid, parse_result_file, payment_file
from incentives.domain.periods import (
    ALLOWED_FROM,
    Action,
    DutiesNotSegregated,
    Period,
    PeriodState,
    TransitionRefused,
    check_segregation,
    check_transition,
)
from incentives.domain.policy import DEFAULT_POLICY, Policy, PolicyInvalid, policy_for, validate_terms
from incentives.domain.rules import (
    active_through,
    best_certificate,
    certificate_valid_on,
    decision_set_hash,
    evaluate,
    explain,
    lines_of,
)
from sikader_shared import events as ev
from sikader_shared.envelope import new_envelope

NOV = Period(2026, 11)


def env(event: ev.Event, at: datetime) -> object:
    return new_envelope(service="registry", ce_type=event.ce_type(), subject=event.aggregate_id(), time=at, actor="t")


def cadre(cid: str, posyandu: str | None = "p1", **kw: object) -> f.CadreFacts:
    base = f.CadreFacts(
        cadre_id=cid,
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        posyandu_id=posyandu,
        registered_on=date(2026, 1, 1),
        status_event_id=f"ev-{cid}",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def cert(cid: str, level: str = "Madya", **kw: object) -> f.CertificateFacts:
    rank = {"Purwa": 1, "Madya": 2, "Utama": 3}[level]
    base = f.CertificateFacts(
        certificate_id=f"k-{cid}-{level}",
        cadre_id=cid,
        certificate_number=f"KDR-{cid}",
        level=level,
        level_rank=rank,
        status="valid",
        expires_on=date(2028, 1, 1),
        valid_from=date(2026, 1, 1),
        event_id=f"ev-k-{cid}",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def posyandu(pid: str = "p1", kel: str = "64.71.01.1001", **kw: object) -> f.PosyanduFacts:
    base = f.PosyanduFacts(
        posyandu_id=pid,
        name=f"Melati {pid}",
        kelurahan_code=kel,
        kecamatan_code=kel[:8],
        verification_status="VERIFIED",
        verification_on=date(2026, 1, 5),
        verification_event_id=f"ev-v-{pid}",
        status_event_id=f"ev-s-{pid}",
    )
    return replace(base, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- periods


def test_period_is_a_calendar_month_in_wita() -> None:
    assert str(Period.parse("2026-02")) == "2026-02"
    assert (Period(2026, 2).start, Period(2026, 2).end) == (date(2026, 2, 1), date(2026, 2, 28))
    assert Period(2024, 2).end == date(2024, 2, 29)
    # 30 Nov 16:30 UTC is already 1 December 00:30 in Balikpapan (UTC+8).
    assert Period.of(datetime(2026, 11, 30, 16, 30, tzinfo=UTC)) == Period(2026, 12)
    assert Period.of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == Period(2026, 11)
    assert Period(2026, 12).next() == Period(2027, 1) and Period(2027, 1).previous() == Period(2026, 12)
    for bad in ("2026-13", "2026-1", "26-01", "2026-00"):
        with pytest.raises(ValueError):
            Period.parse(bad)


def test_every_illegal_transition_is_refused_with_a_reason() -> None:
    refused = 0
    for action, state in itertools.product(Action, PeriodState):
        if state in ALLOWED_FROM[action]:
            check_transition("2026-11", action, state)
            continue
        with pytest.raises(TransitionRefused) as info:
            check_transition("2026-11", action, state)
        assert info.value.reason and "2026-11" in str(info.value)
        refused += 1
    assert refused == len(Action) * len(PeriodState) - sum(len(s) for s in ALLOWED_FROM.values())
    with pytest.raises(TransitionRefused, match="late changes become corrections"):
        check_transition("2026-11", Action.CALCULATE, PeriodState.APPROVED)


def test_segregation_of_duties() -> None:
    check_segregation("dinkes", "key1", "bpkad", "key2")
    with pytest.raises(DutiesNotSegregated, match="key that calculated"):
        check_segregation("dinkes", "key1", "bpkad", "key1")
    with pytest.raises(DutiesNotSegregated, match="OPD client 'dinkes'"):
        check_segregation("dinkes", "key1", "dinkes", "key2")


# --------------------------------------------------------------------------- policy


def test_policy_versions_take_effect_from_a_period() -> None:
    v2 = Policy("v2", "2026-12", {"Purwa": 1, "Madya": 2, "Utama": 3}, sequence=2)
    v3 = Policy("v3", "2026-12", {"Purwa": 4, "Madya": 5, "Utama": 6}, sequence=3)
    assert policy_for([DEFAULT_POLICY, v2, v3], "2026-11") is DEFAULT_POLICY
    assert policy_for([DEFAULT_POLICY, v3, v2], "2027-03") is v3  # the later one of the same period
    assert DEFAULT_POLICY.amounts == {"Purwa": 250_000, "Madya": 350_000, "Utama": 500_000}
    assert validate_terms({"Purwa": 1, "Madya": 2, "Utama": 3}, ["posyandu_open", "cadre_active"], 5, None) == (
        "cadre_active",
        "posyandu_open",
    )
    for amounts, reqs, cap, ceiling, field in [
        ({"Purwa": 1, "Madya": 2}, [], 5, None, "amounts"),
        ({"Purwa": 1, "Madya": 2, "Utama": 3, "Dewa": 4}, [], 5, None, "amounts"),
        ({"Purwa": -1, "Madya": 2, "Utama": 3}, [], 5, None, "amounts"),
        ({"Purwa": 1, "Madya": 2, "Utama": 3}, ["smiling"], 5, None, "requirements"),
        ({"Purwa": 1, "Madya": 2, "Utama": 3}, [], 0, None, "cap_per_posyandu"),
        ({"Purwa": 1, "Madya": 2, "Utama": 3}, [], 5, -5, "budget_ceiling"),
    ]:
        with pytest.raises(PolicyInvalid) as info:
            validate_terms(amounts, reqs, cap, ceiling)
        assert info.value.field_name == field


# --------------------------------------------------------------------------- facts from events


def test_cadre_facts_follow_events_and_ignore_a_late_older_one() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    reg = ev.CadreRegistered(
        cadre_id="c1",
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        name="Siti",
        status="active",
        posyandu_id="p1",
        joined_on=date(2019, 5, 1),
        registered_at=datetime(2026, 10, 31, 17, tzinfo=UTC),
    )
    c = f.apply_cadre_event(None, reg, env(reg, t0))  # type: ignore[arg-type]
    assert (c.registered_on, c.posyandu_id, c.status) == (date(2026, 11, 1), "p1", "active")  # WITA date
    off = ev.CadreDeactivated(
        cadre_id="c1",
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        reason="moved",
        effective_on=date(2026, 11, 10),
    )
    off_env = env(off, t0 + timedelta(days=9))
    c = f.apply_cadre_event(c, off, off_env)  # type: ignore[arg-type]
    assert (c.status, c.deactivated_on, c.status_event_id) == ("inactive", date(2026, 11, 10), off_env.id)  # type: ignore[attr-defined]
    on = ev.CadreReactivated(
        cadre_id="c1", kelurahan_code="64.71.01.1001", kecamatan_code="64.71.01", effective_on=date(2026, 11, 20)
    )
    # An older re-published event arriving late does not undo newer facts.
    assert f.apply_cadre_event(c, reg, env(reg, t0)) == c  # type: ignore[arg-type]
    c = f.apply_cadre_event(c, on, env(on, t0 + timedelta(days=19)))  # type: ignore[arg-type]
    assert (c.status, c.reactivated_on) == ("active", date(2026, 11, 20))
    assert not active_through(c, NOV) and active_through(c, Period(2026, 12)) and active_through(c, Period(2026, 10))
    moved = ev.CadreAssigned(
        cadre_id="c1",
        kelurahan_code="64.71.02.1002",
        kecamatan_code="64.71.02",
        posyandu_id="p2",
        assigned_on=date(2026, 11, 21),
    )
    c = f.apply_cadre_event(c, moved, env(moved, t0 + timedelta(days=20)))  # type: ignore[arg-type]
    assert (c.posyandu_id, c.kecamatan_code) == ("p2", "64.71.02")


def test_certificate_facts_revocation_and_restoration() -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    common = dict(
        cadre_id="c1", certificate_id="k1", certificate_number="KDR-1", level="Madya", expires_on=date(2028, 1, 1)
    )
    issued = ev.CadreCertified(
        **common, status="valid", cadre_name="Siti", issued_on=date(2026, 11, 2), issuer="Dinkes"
    )
    k = f.apply_certificate_event(None, issued, env(issued, t0))  # type: ignore[arg-type]
    assert certificate_valid_on(k, NOV.end) and not certificate_valid_on(k, date(2026, 11, 1))
    suspended = ev.CertificateSuspended(
        **common, status="suspended", reason="cadre_deactivated", suspended_on=date(2026, 12, 3)
    )
    k = f.apply_certificate_event(k, suspended, env(suspended, t0 + timedelta(days=32)))  # type: ignore[arg-type]
    assert certificate_valid_on(k, NOV.end) and not certificate_valid_on(k, Period(2026, 12).end)
    restored = ev.CertificateRenewed(
        **common,
        status="valid",
        basis="reactivation",
        previous_expires_on=date(2028, 1, 1),
        renewed_on=date(2027, 1, 10),
    )
    k = f.apply_certificate_event(k, restored, env(restored, t0 + timedelta(days=70)))  # type: ignore[arg-type]
    assert k.valid_from == date(2027, 1, 10) and not certificate_valid_on(k, Period(2026, 12).end)
    assert certificate_valid_on(k, Period(2027, 1).end)
    revoked = ev.CertificateRevoked(
        **common, status="revoked", reason="fraud", revoked_by="dinkes", revoked_at=datetime(2027, 2, 3, 20, tzinfo=UTC)
    )
    rev_env = env(revoked, t0 + timedelta(days=100))
    k = f.apply_certificate_event(k, revoked, rev_env)  # type: ignore[arg-type]
    assert (k.status, k.status_on, k.event_id) == ("revoked", date(2027, 2, 4), rev_env.id)  # type: ignore[attr-defined]


def test_the_valid_highest_level_certificate_counts() -> None:
    purwa, utama = cert("c1", "Purwa"), cert("c1", "Utama", status="revoked", status_on=date(2026, 11, 3))
    assert best_certificate([utama, purwa], NOV.end) == purwa
    assert best_certificate([utama], NOV.end) == utama
    assert best_certificate([], NOV.end) is None


# --------------------------------------------------------------------------- eligibility


def test_cap_priority_is_level_then_tenure_then_cadre_id() -> None:
    cadres = [cadre(f"c{i}", joined_on=date(2010 + i, 1, 1)) for i in range(7)]
    certs = {c.cadre_id: [cert(c.cadre_id, "Utama" if c.cadre_id == "c6" else "Madya")] for c in cadres}
    out = {d.cadre_id: d for d in evaluate(cadres, {"p1": posyandu()}, certs, NOV, DEFAULT_POLICY, apply_budget=True)}
    assert out["c6"].posyandu_rank == 1  # Utama first although newest
    assert [out[f"c{i}"].posyandu_rank for i in range(6)] == [2, 3, 4, 5, 6, 7]  # then longest tenure
    assert [c for c, d in sorted(out.items()) if d.eligible] == ["c0", "c1", "c2", "c3", "c6"]
    assert out["c4"].failed("posyandu_cap") and out["c4"].amount == 0
    assert out["c6"].amount == 500_000 and out["c0"].amount == 350_000
    reasons = {r.rule: r for r in explain(out["c4"], NOV, DEFAULT_POLICY, budget_applied=True)}
    assert not reasons["posyandu_cap"].passed and "beyond the cap of 5" in reasons["posyandu_cap"].fact_en
    assert "melebihi batas 5" in reasons["posyandu_cap"].fact_id


def test_requirements_each_fail_with_their_fact() -> None:
    cadres = [
        cadre("active-ok"),
        cadre("left", status="inactive", deactivated_on=date(2026, 11, 15)),
        cadre("nocert"),
        cadre("revoked"),
        cadre("nowhere", posyandu=None),
        cadre("pending", posyandu="p2"),
        cadre("closed", posyandu="p3"),
        cadre("late", registered_on=date(2026, 12, 2)),
    ]
    certs = {c.cadre_id: [cert(c.cadre_id)] for c in cadres if c.cadre_id != "nocert"}
    certs["revoked"] = [cert("revoked", status="revoked", status_on=date(2026, 11, 5), event_id="ev-revoke")]
    posy = {
        "p1": posyandu(),
        "p2": posyandu("p2", verification_status="PENDING"),
        "p3": posyandu("p3", status="closed", closed_on=date(2026, 11, 20)),
    }
    out = {d.cadre_id: d for d in evaluate(cadres, posy, certs, NOV, DEFAULT_POLICY, apply_budget=True)}
    assert "late" not in out  # registered after the period
    assert out["active-ok"].eligible
    failed = {
        cid: [r.rule for r in explain(d, NOV, DEFAULT_POLICY, budget_applied=True) if not r.passed]
        for cid, d in out.items()
    }
    assert failed == {
        "active-ok": [],
        "left": ["cadre_active"],
        "nocert": ["certificate_valid"],
        "revoked": ["certificate_valid"],
        "nowhere": ["posyandu_verified", "posyandu_open"],
        "pending": ["posyandu_verified"],
        "closed": ["posyandu_open"],
    }
    revoked = {r.rule: r for r in explain(out["revoked"], NOV, DEFAULT_POLICY, budget_applied=True)}
    assert revoked["certificate_valid"].fact_en == "certificate KDR-revoked (Madya) revoked on 2026-11-05"
    assert revoked["certificate_valid"].fact_id == "sertifikat KDR-revoked (Madya) dicabut pada 2026-11-05"
    assert revoked["certificate_valid"].source_event_ids == ("ev-revoke",)
    assert revoked["posyandu_cap"].passed and "not applied" in revoked["posyandu_cap"].fact_en
    # A requirement the policy switches off passes, saying so.
    relaxed = Policy(
        "v9",
        "2026-01",
        dict(DEFAULT_POLICY.amounts),
        requirements=("cadre_active", "certificate_valid", "posyandu_open"),
    )
    d = next(d for d in evaluate(cadres, posy, certs, NOV, relaxed, apply_budget=True) if d.cadre_id == "pending")
    assert d.eligible
    assert (
        "not required by policy v9"
        in {r.rule: r for r in explain(d, NOV, relaxed, budget_applied=True)}["posyandu_verified"].fact_en
    )


def test_budget_rule_pays_every_posyandus_first_cadre_before_anyone_gets_more() -> None:
    # Three kelurahan; Posyandu a1, a2 in kelurahan A, b1 in B, c1 in C; four cadres each.
    posy = {
        "a1": posyandu("a1", "64.71.01.1001"),
        "a2": posyandu("a2", "64.71.01.1001"),
        "b1": posyandu("b1", "64.71.01.1002"),
        "c1": posyandu("c1", "64.71.01.1003"),
    }
    cadres = [
        cadre(f"{p}-{i}", posyandu=p, kelurahan_code=posy[p].kelurahan_code, joined_on=date(2000 + i, 1, 1))
        for p in posy
        for i in range(4)
    ]
    certs = {c.cadre_id: [cert(c.cadre_id, "Purwa")] for c in cadres}
    policy = Policy("v2", "2026-01", {"Purwa": 100, "Madya": 200, "Utama": 300}, budget_ceiling=650)
    out = {d.cadre_id: d for d in evaluate(cadres, posy, certs, NOV, policy, apply_budget=True)}
    paid = sorted(c for c, d in out.items() if d.eligible)
    # Round 1 (each Posyandu's top cadre) = 400; round 2 in kelurahan turns: A, B, C first -> 650 stops after 2
    # more, in order a1-1 (A, turn 1), b1-1 (B, turn 1): c1-1 (C, turn 1) would exceed the ceiling.
    assert paid == ["a1-0", "a1-1", "a2-0", "b1-0", "b1-1", "c1-0"]
    assert sum(d.amount for d in out.values()) == 600
    cut = {r.rule: r for r in explain(out["c1-1"], NOV, policy, budget_applied=True)}["budget"]
    assert not cut.passed and "round 2" in cut.fact_en and "Rp 650" in cut.fact_en
    assert {r.rule: r for r in explain(out["c1-0"], NOV, policy, budget_applied=False)}["budget"].passed


def test_decision_set_hash_is_stable_and_sensitive() -> None:
    cadres = [cadre(f"c{i}") for i in range(3)]
    certs = {c.cadre_id: [cert(c.cadre_id)] for c in cadres}
    one = evaluate(cadres, {"p1": posyandu()}, certs, NOV, DEFAULT_POLICY, apply_budget=True)
    two = evaluate(list(reversed(cadres)), {"p1": posyandu()}, certs, NOV, DEFAULT_POLICY, apply_budget=True)
    assert decision_set_hash("h", lines_of(one)) == decision_set_hash("h", lines_of(two))
    changed = [replace(one[0], amount=1), *one[1:]]
    assert decision_set_hash("h", lines_of(one)) != decision_set_hash("h", lines_of(changed))


# --------------------------------------------------------------------------- payment files


def test_payment_file_and_result_file() -> None:
    text = payment_file(
        [
            PaymentLine(
                "INC-2026-11-B01-000001",
                "2026-11",
                "c1",
                "Siti, A.",
                "bank",
                "BPD-KALTIM",
                "0123456789",
                "Siti",
                350000,
            )
        ]
    )
    assert text.splitlines() == [
        "reference,period,cadre_id,cadre_name,method,bank,account_number,account_holder,amount",
        'INC-2026-11-B01-000001,2026-11,c1,"Siti, A.",bank,BPD-KALTIM,0123456789,Siti,350000',
    ]
    ok = parse_result_file("reference,result,failure_reason,paid_on\nR1,paid,,2026-12-04\nR2,FAILED,account closed,\n")
    assert [(r.reference, r.result, r.failure_reason, r.paid_on) for r in ok] == [
        ("R1", "paid", None, date(2026, 12, 4)),
        ("R2", "failed", "account closed", None),
    ]
    with pytest.raises(ResultFileInvalid) as info:
        parse_result_file("reference,result,failure_reason,paid_on\nR1,maybe,,\nR2,failed,,\nR1,paid,,x\n")
    assert [(e["line"], e["field"]) for e in info.value.errors] == [
        (2, "result"),
        (3, "failure_reason"),
        (4, "reference"),
    ]
    with pytest.raises(ResultFileInvalid):
        parse_result_file("ref,outcome\nR1,paid\n")
