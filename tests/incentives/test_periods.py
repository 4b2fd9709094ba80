"""Monthly periods over HTTP and the real broker: calculate, review, approve (segregation of
duties), payment file, bank results, close; every illegal transition refused; corrections and
carry-overs in the next period; the budget rule; fairness report."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from sikader_shared import events as ev
from sikader_shared.db import PiiReadRecord
from sikader_shared.testing.paging import walk_pages as walk
from tests.incentives.helpers import KEL_A, KEL_B, KEL_C, Registry, key, settled, start_incentives, wait_events

pytestmark = pytest.mark.integration
OCT, NOV = "2026-10", "2026-11"


async def city(reg: Registry) -> dict[str, Any]:
    """Two verified Posyandu (kelurahan A and B), one PENDING (C); seven cadres."""
    pa, _ = await reg.posyandu(KEL_A, name="Melati")
    pb, _ = await reg.posyandu(KEL_B, name="Mawar")
    pc, _ = await reg.posyandu(KEL_C, verified=False, name="Anggrek")
    a = [reg.cadre_registered(pa, KEL_A, joined=date(2012 + i, 1, 1), name=f"Kader A{i}") for i in range(3)]
    b = [reg.cadre_registered(pb, KEL_B, joined=date(2012 + i, 1, 1), name=f"Kader B{i}") for i in range(2)]
    c = [reg.cadre_registered(pc, KEL_C, name=f"Kader C{i}") for i in range(2)]
    everyone = a + b + c
    levels = {
        a[0].cadre_id: "Utama",
        a[1].cadre_id: "Madya",
        a[2].cadre_id: "Purwa",
        b[0].cadre_id: "Madya",
        b[1].cadre_id: "Purwa",
        c[0].cadre_id: "Madya",
        c[1].cadre_id: "Madya",
    }
    envs = await reg.publish(*everyone)
    envs += await reg.publish(*(reg.certified(x.cadre_id, levels[x.cadre_id], x.kelurahan_code) for x in everyone))
    # Everyone but B1 has payment details.
    envs += await reg.publish(
        *(reg.payment_details(x.cadre_id, f"70{i:04d}") for i, x in enumerate(everyone) if x is not b[1])
    )
    return {"pa": pa, "pb": pb, "pc": pc, "a": a, "b": b, "c": c, "envs": envs}


async def test_period_lifecycle_with_segregation_payments_and_corrections(broker, databases, run_service) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    data = await city(reg)
    await settled(svc, data["envs"])
    calculator = await key(svc, "dinkes", "incentives:calculate", "incentives:read")
    same_client = await key(svc, "dinkes", "incentives:approve")
    approver = await key(svc, "bpkad", "incentives:approve", "incentives:read")
    payer = await key(svc, "bank-kaltimtara", "incentives:pay")
    reader = await key(svc, "dprd", "incentives:read")
    a, b = data["a"], data["b"]

    async with (
        svc.client(calculator) as calc,
        svc.client(approver) as appr,
        svc.client(payer) as pay,
        svc.client(reader) as read,
        svc.client(same_client) as same,
    ):
        # Illegal transitions of an open period, each refused with a reason.
        for client, path in [(appr, "approve"), (pay, "close"), (pay, "payment-batches")]:
            r = await client.post(f"/periods/{OCT}/{path}")
            assert r.status_code == 409, (path, r.text)
            assert r.json()["state"] == "open" and r.json()["reason"]
        assert (await calc.post("/periods/2026-12/calculate")).status_code == 422  # not started yet
        assert (await calc.post("/periods/2026-1/calculate")).status_code == 422
        assert (await read.post(f"/periods/{OCT}/calculate")).status_code == 403  # scope

        first = await calc.post(f"/periods/{OCT}/calculate")
        assert first.status_code == 200, first.text
        p = first.json()
        # A: Utama 500k, Madya 350k, Purwa 250k; B: 350k + 250k; C not verified.
        assert (p["state"], p["cadres_evaluated"], p["eligible_cadres"], p["total_amount"]) == (
            "calculated",
            7,
            5,
            1_700_000,
        )
        assert p["policy_version"] == "v1" and len(p["decision_hash"]) == 64
        assert p["allowed_actions"] == ["calculate", "approve"]
        decisions = (await read.get(f"/periods/{OCT}/decisions", params={"limit": 500})).json()
        again = await calc.post(f"/periods/{OCT}/calculate")
        assert again.json()["decision_hash"] == p["decision_hash"]  # same inputs, same hash
        assert again.json()["calculation_count"] == 2
        assert (await read.get(f"/periods/{OCT}/decisions", params={"limit": 500})).content == (
            await read.get(f"/periods/{OCT}/decisions", params={"limit": 500})
        ).content
        assert (await read.get(f"/periods/{OCT}/decisions", params={"limit": 500})).json() == decisions
        pending = [d for d in decisions["items"] if d["posyandu_id"] == data["pc"]]
        assert all(d["failed_rules"] == ["posyandu_verified"] for d in pending) and len(pending) == 2

        # Review: totals per kecamatan, kelurahan and Posyandu.
        kec = (await read.get(f"/periods/{OCT}/totals")).json()
        assert kec == [
            {
                "kecamatan_code": "64.71.01",
                "kelurahan_code": None,
                "posyandu_id": None,
                "posyandu_name": None,
                "cadres": 5,
                "eligible_cadres": 5,
                "total_amount": 1_700_000,
            },
            {
                "kecamatan_code": "64.71.02",
                "kelurahan_code": None,
                "posyandu_id": None,
                "posyandu_name": None,
                "cadres": 2,
                "eligible_cadres": 0,
                "total_amount": 0,
            },
        ]
        kel = (await read.get(f"/periods/{OCT}/totals", params={"by": "kelurahan"})).json()
        assert [(k["kelurahan_code"], k["total_amount"]) for k in kel] == [
            (KEL_A, 1_100_000),
            (KEL_B, 600_000),
            (KEL_C, 0),
        ]
        posy = (await read.get(f"/periods/{OCT}/totals", params={"by": "posyandu"})).json()
        assert {x["posyandu_name"]: x["eligible_cadres"] for x in posy} == {
            "Posyandu Melati": 3,
            "Posyandu Mawar": 2,
            "Posyandu Anggrek": 0,
        }

        # Segregation of duties: not the calculating key, not the calculating OPD client.
        r = await calc.post(f"/periods/{OCT}/approve")
        assert r.status_code == 403  # the key lacks the scope anyway
        r = await same.post(f"/periods/{OCT}/approve")
        assert r.status_code == 403 and "segregation of duties" in r.json()["detail"]
        r = await appr.post(f"/periods/{OCT}/approve", json={"decision_hash": "0" * 64})
        assert r.status_code == 409 and r.json()["current_hash"] == p["decision_hash"]
        r = await appr.post(f"/periods/{OCT}/approve", json={"decision_hash": p["decision_hash"]})
        assert r.status_code == 200 and r.json()["state"] == "approved", r.text
        assert r.json()["approved_by"] == "bpkad" and r.json()["payments"] == {"pending": 5}
        for client, path in [(calc, "calculate"), (appr, "approve"), (pay, "close")]:
            r = await client.post(f"/periods/{OCT}/{path}")
            assert r.status_code == 409 and r.json()["state"] == "approved", (path, r.text)
        assert "corrections in the next period" in (await calc.post(f"/periods/{OCT}/calculate")).json()["reason"]
        # A new policy cannot reach back into an approved period.
        policy_key = await key(svc, "bappeda", "incentives:policy")
        async with svc.client(policy_key) as pol:
            r = await pol.post("/policies", json={"effective_from": OCT, "cap_per_posyandu": 2})
            assert r.status_code == 409 and r.json()["field"] == "effective_from"

        # Payment batch 1: B1 has no payment details and fails at once.
        r = await pay.post(f"/periods/{OCT}/payment-batches")
        assert r.status_code == 201, r.text
        batch = r.json()
        assert (batch["number"], batch["lines"], batch["without_details"], batch["total_amount"]) == (
            1,
            4,
            1,
            1_450_000,
        )
        file = await pay.get(batch["file"])
        assert file.status_code == 200 and file.headers["content-type"].startswith("text/csv")
        lines = file.text.splitlines()
        assert lines[0] == "reference,period,cadre_id,cadre_name,method,bank,account_number,account_holder,amount"
        assert len(lines) == 5 and all(",BPD-KALTIMTARA,70" in x and f",{OCT}," in x for x in lines[1:])
        assert (await pay.get(batch["file"])).content == file.content  # the same bytes again
        async with svc.runtime.sessions() as session:
            logged = await session.scalar(select(func.count()).where(col(PiiReadRecord.entity_id) == batch["batch_id"]))
        assert logged == 2
        assert (await read.get(batch["file"])).status_code == 403

        # The bank's results: a wrong file changes nothing; then A2 failed, the rest paid.
        refs = {x.split(",")[2]: x.split(",")[0] for x in lines[1:]}
        url = f"/periods/{OCT}/payment-batches/{batch['batch_id']}/results"
        csv_head = "reference,result,failure_reason,paid_on\n"
        r = await pay.post(url, content=csv_head + "INC-XYZ,paid,,2026-11-25\n", headers={"content-type": "text/csv"})
        assert r.status_code == 409 and r.json()["errors"][0]["line"] == 2
        r = await pay.post(url, content=csv_head + f"{refs[a[0].cadre_id]},failed,,\n")
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "failure_reason"
        results = "".join(
            f"{ref},failed,account closed,\n" if cid == a[2].cadre_id else f"{ref},paid,,2026-11-25\n"
            for cid, ref in refs.items()
        )
        r = await pay.post(url, content=csv_head + results)
        assert r.status_code == 200, r.text
        assert (r.json()["paid"], r.json()["failed"], r.json()["state"]) == (3, 1, "paid")
        r = await pay.post(url, content=csv_head + results)  # the same file again: nothing new
        assert (r.json()["paid"], r.json()["already_recorded"]) == (0, 4)

        # Retry batch with the failed ones (A2 again, B1 still without details), then close.
        r = await pay.post(f"/periods/{OCT}/payment-batches")
        retry = r.json()
        assert (retry["number"], retry["lines"], retry["without_details"]) == (2, 1, 1)
        r = await pay.post(f"/periods/{OCT}/close")
        assert r.status_code == 409 and "await the bank" in r.json()["detail"]
        retry_lines = (await pay.get(retry["file"])).text.splitlines()[1:]
        assert [x.split(",")[2] for x in retry_lines] == [a[2].cadre_id]
        r = await pay.post(
            f"/periods/{OCT}/payment-batches/{retry['batch_id']}/results",
            content=csv_head + f"{retry_lines[0].split(',')[0]},paid,,2026-11-28\n",
        )
        assert r.json()["paid"] == 1
        r = await pay.post(f"/periods/{OCT}/close")
        assert r.status_code == 200 and r.json()["state"] == "closed", r.text
        for client, path in [(calc, "calculate"), (pay, "close"), (pay, "payment-batches"), (appr, "approve")]:
            r = await client.post(f"/periods/{OCT}/{path}")
            assert r.status_code == 409 and r.json()["state"] == "closed", (path, r.text)

        # The events of the period, read back from the broker.
        [(h, calculated)] = (
            await wait_events(broker.bootstrap, ev.IncentivePeriodCalculated, lambda x: x["period"] == OCT, count=2)
        )[-1:]
        assert h["ce_subject"] == OCT and h["ce_actor"] == "dinkes"
        assert calculated["decision_hash"] == p["decision_hash"] and calculated["totals_by_kecamatan"][0] == {
            "kecamatan_code": "64.71.01",
            "eligible_cadres": 5,
            "total_amount": 1_700_000,
        }
        [(h, approved)] = await wait_events(broker.bootstrap, ev.IncentivePeriodApproved, lambda x: True)
        assert (approved["approved_by"], approved["calculated_by"], h["ce_actor"]) == ("bpkad", "dinkes", "bpkad")
        recorded = await wait_events(broker.bootstrap, ev.IncentivePaymentRecorded, lambda x: True, count=7)
        by_result = sorted((x["result"], x["failure_reason"] or "") for _, x in recorded)
        assert by_result == [
            ("failed", "account closed"),
            ("failed", "no payment details on record"),
            ("failed", "no payment details on record"),
            ("paid", ""),
            ("paid", ""),
            ("paid", ""),
            ("paid", ""),
        ]
        assert all("account_number" not in str(x) and "70000" not in str(x) for _, x in recorded)
        [(_, closed)] = await wait_events(broker.bootstrap, ev.IncentivePeriodClosed, lambda x: True)
        assert (closed["paid_cadres"], closed["paid_amount"], closed["failed_cadres"]) == (4, 1_450_000, 1)

        # A late fact about October (A1 deactivated from 20 October) and the closed period's failed
        # payment (B1) come into November as a correction and a carry-over, never as an edit.
        late = ev.CadreDeactivated(
            cadre_id=a[1].cadre_id,
            kelurahan_code=KEL_A,
            kecamatan_code="64.71.01",
            reason="resigned",
            effective_on=date(2026, 10, 20),
        )
        await settled(svc, await reg.publish(late))
        r = await calc.post(f"/periods/{NOV}/calculate")
        assert r.status_code == 200 and r.json()["corrections"] == 2, r.text
        adjustments = (await read.get(f"/periods/{NOV}/adjustments")).json()
        assert sorted((x["kind"], x["cadre_id"], x["delta"]) for x in adjustments) == sorted(
            [("correction", a[1].cadre_id, -350_000), ("carry_over", b[1].cadre_id, 250_000)]
        )
        oct_period = (await read.get(f"/periods/{OCT}")).json()
        assert (oct_period["state"], oct_period["decision_hash"]) == ("closed", p["decision_hash"])

        # Fairness: the PENDING Posyandu is left out, with why; coverage per kelurahan.
        fair = (await read.get(f"/periods/{OCT}/fairness")).json()
        assert [(x["posyandu_id"], x["reason"]) for x in fair["posyandu_left_out"]] == [
            (data["pc"], "posyandu_not_verified")
        ]
        assert {k["kelurahan_code"]: k["posyandu_coverage"] for k in fair["kelurahan"]} == {
            KEL_A: 1.0,
            KEL_B: 1.0,
            KEL_C: 0.0,
        }
        assert {k["kecamatan_code"]: k["paid_amount"] for k in fair["kecamatan"]} == {
            "64.71.01": 1_450_000,
            "64.71.02": 0,
        }
        assert fair["evenness"]["kelurahan_with_funded_posyandu"] == 2

        # Every list route pages (limit, cursor, Link: rel="next"): each item exactly once, in order.
        await walks_every_list(read, pay, data)

        # The audit trail of the period names who did what.
    async with svc.client(await key(svc, "inspektorat", "audit:read")) as auditor:
        trail = (await auditor.get("/audit", params={"entity_type": "period", "entity_id": OCT})).json()
    assert [(t["action"], t["actor_client"]) for t in trail] == [
        ("period.calculate", "dinkes"),
        ("period.calculate", "dinkes"),
        ("period.approve", "bpkad"),
        ("payment_batch.create", "bank-kaltimtara"),
        ("period.paid", "bank-kaltimtara"),
        ("payment_results.record", "bank-kaltimtara"),
        ("payment_results.record", "bank-kaltimtara"),
        ("payment_batch.create", "bank-kaltimtara"),
        ("payment_results.record", "bank-kaltimtara"),
        ("period.close", "bank-kaltimtara"),
    ]


async def walks_every_list(read: Any, pay: Any, data: dict[str, Any]) -> None:
    periods, pages = await walk(read, "/periods", {"limit": 1})
    assert [x["period"] for x in periods] == [NOV, OCT] and pages == 2
    assert periods == (await read.get("/periods")).json()
    for by, count in (("kecamatan", 2), ("kelurahan", 3), ("posyandu", 3)):
        totals, pages = await walk(read, f"/periods/{OCT}/totals", {"by": by, "limit": 1})
        assert totals == (await read.get(f"/periods/{OCT}/totals", params={"by": by})).json()
        assert len(totals) == pages == count, by
    everyone = (await read.get(f"/periods/{OCT}/decisions", params={"limit": 500})).json()["items"]
    decisions, pages = await walk(read, f"/periods/{OCT}/decisions", {"limit": 2}, lambda b: b["items"])
    assert decisions == everyone and len(everyone) == 7 and pages == 4
    first = (await read.get(f"/periods/{OCT}/decisions", params={"limit": 2})).json()
    assert first["next_after"] == everyone[1]["cadre_id"]  # `after` keeps working beside `cursor`
    second = (await read.get(f"/periods/{OCT}/decisions", params={"limit": 2, "after": first["next_after"]})).json()
    assert second["items"] == everyone[2:4]
    adjustments, pages = await walk(read, f"/periods/{NOV}/adjustments", {"limit": 1})
    assert adjustments == (await read.get(f"/periods/{NOV}/adjustments")).json() and len(adjustments) == pages == 2
    batches, pages = await walk(pay, f"/periods/{OCT}/payment-batches", {"limit": 1})
    assert [b["number"] for b in batches] == [1, 2] and pages == 2
    assert (await read.get("/periods", params={"cursor": "not-a-cursor"})).status_code == 422


async def test_policy_versions_and_the_budget_rule(broker, databases, run_service) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    data = await city(reg)
    await settled(svc, data["envs"])
    policy_key = await key(svc, "bappeda", "incentives:policy", "incentives:read")
    calculator = await key(svc, "dinkes", "incentives:calculate", "incentives:read")
    async with svc.client(policy_key) as pol, svc.client(calculator) as calc:
        assert [x["version"] for x in (await pol.get("/policies")).json()] == ["v1"]
        bad = await pol.post("/policies", json={"effective_from": NOV, "amounts": {"Purwa": 1}})
        assert bad.status_code == 422 and bad.json()["field"] == "amounts"
        bad = await pol.post("/policies", json={"effective_from": "2026-11-01"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "effective_from"]
        assert (await calc.post("/policies", json={"effective_from": NOV})).status_code == 403
        # Money is short: Rp 1,000,000 for November.
        r = await pol.post(
            "/policies", json={"effective_from": NOV, "budget_ceiling": 1_000_000, "note": "APBD-P 2026"}
        )
        assert r.status_code == 201, r.text
        assert (r.json()["version"], r.json()["budget_ceiling"], r.json()["created_by"]) == ("v2", 1_000_000, "bappeda")
        versions = (await pol.get("/policies")).json()
        assert [(x["version"], x["budget_ceiling"]) for x in versions] == [("v1", None), ("v2", 1_000_000)]
        r = await pol.post("/policies", json={"effective_from": "2027-01", "note": "APBD 2027"})
        paged, pages = await walk(pol, "/policies", {"limit": 1})
        assert [x["version"] for x in paged] == ["v1", "v2", "v3"] and pages == 3
        assert paged == (await pol.get("/policies")).json()

        oct_ = (await calc.post(f"/periods/{OCT}/calculate")).json()
        nov = (await calc.post(f"/periods/{NOV}/calculate")).json()
        assert (oct_["policy_version"], oct_["total_amount"]) == ("v1", 1_700_000)
        assert (nov["policy_version"], nov["budget_ceiling"]) == ("v2", 1_000_000)
        # Round 1: each verified Posyandu's first cadre (A0 Utama 500k, B0 Madya 350k) = 850k;
        # round 2 starts with A1 (350k) which would pass the ceiling: nobody further is paid.
        assert (nov["eligible_cadres"], nov["total_amount"]) == (2, 850_000)
        d = (
            await calc.get(f"/periods/{NOV}/decisions", params={"eligible": "false", "posyandu_id": data["pa"]})
        ).json()
        budget = [r for x in d["items"] for r in x["reasons"] if r["rule"] == "budget"]
        assert [x["failed_rules"] for x in d["items"]] == [["budget"], ["budget"]]
        assert all(not r["passed"] and "round" in r["text_en"] and "pagu anggaran" in r["text_id"] for r in budget)
        # The answer is the live decision (as announced: the ceiling is applied at calculation), with the
        # calculation beside it: not paid, only because the ceiling was reached; the two agree.
        a1 = data["a"][1].cadre_id
        answer = (await calc.get(f"/eligibility/{a1}", params={"period": NOV})).json()
        assert (answer["source"], answer["eligible"], answer["period_state"]) == ("live", True, "calculated")
        c = answer["calculation"]
        assert (c["included"], c["eligible"], c["budget_rule_failed"], c["matches_live"]) == (True, False, True, True)
        assert c["needs_recalculation"] is False
        assert (await pol.get("/policies/v9")).status_code == 404


async def test_demo_hook_calculates_a_period_through_the_api(broker, databases, run_service) -> None:
    from incentives.entrypoints.demo import load_demo

    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    data = await city(reg)
    await settled(svc, data["envs"])
    calculator = await key(svc, "demo", "incentives:calculate", "incentives:read")
    async with svc.client() as client:
        out = await load_demo(client, calculator, NOV)
    assert (out["state"], out["cadres_evaluated"], out["eligible_cadres"], out["total_amount"]) == (
        "calculated",
        7,
        5,
        1_700_000,
    )
    assert [t["kecamatan_code"] for t in out["totals_by_kecamatan"]] == ["64.71.01", "64.71.02"]
    async with svc.client() as client:
        spec = (await client.get("/openapi.json")).json()
    results = spec["paths"]["/periods/{period}/payment-batches/{batch_id}/results"]["post"]
    assert "text/csv" in results["requestBody"]["content"]
    for path in ("/policies", "/eligibility/{cadre_id}", "/periods/{period}/calculate", "/periods/{period}/approve",
                 "/periods/{period}/fairness", "/periods/{period}/totals", "/periods/{period}/close"):  # fmt: skip
        assert path in spec["paths"]
    assert spec["components"]["schemas"]["PolicyCreate"]["examples"]
