"""Issue 9, item 3: another OPD's resources, and segregation of duties in approval.

What the code treats as owned by an OPD client: webhook subscriptions and their deliveries,
broadcasts, Idempotency-Key answers (notifications, every service), a training's attendance
(certification: the planning OPD records it); and an incentive period may never be approved
by the key, nor the OPD client, that calculated it. Another client gets 404 for what it does
not own (existence is not shared) or 403 with a reason, and nothing changes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from notifications.adapters.tables import DeliveryRow
from sikader_shared.auth import list_keys
from sikader_shared.db import AuditRecord
from tests.security.conftest import Platform, audit_rows, eventually, ok

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]


async def test_one_opd_cannot_see_or_touch_another_opds_subscriptions(platform: Platform) -> None:
    p = platform
    body = {**p.res["subscription_body"], "url": "https://sim.puskesmas-a.example/hooks/tenancy"}
    async with (
        p.client("notifications", "sub-a") as a,
        p.client("notifications", "sub-a2") as a2,
        p.client("notifications", "sub-b") as b,
        p.client("notifications", "scope:admin") as admin,
    ):
        sub = ok(await a.post("/subscriptions", json=body), 201)
        assert sub["client_id"] == "puskesmas-a"
        sid = sub["id"]
        redeliver = {"since": "2026-01-01T00:00:00+08:00"}
        attempts = [
            ("GET", f"/subscriptions/{sid}", None),
            ("GET", f"/subscriptions/{sid}/deliveries", None),
            ("POST", f"/subscriptions/{sid}/pause", None),
            ("POST", f"/subscriptions/{sid}/resume", None),
            ("POST", f"/subscriptions/{sid}/redeliver", redeliver),
            ("POST", f"/subscriptions/{sid}/secret/rotate", None),
            ("DELETE", f"/subscriptions/{sid}", None),
        ]
        for method, path, payload in attempts:
            r = await b.request(method, path, json=payload)
            assert r.status_code == 404, (method, path, r.text)
            assert r.json()["detail"] == f"no subscription {sid}"  # same answer as for no subscription
        assert sid not in [s["id"] for s in ok(await b.get("/subscriptions"))]

        # Untouched: still active, no replay queued, and its trail names only client A.
        assert ok(await a.get(f"/subscriptions/{sid}"))["status"] == "active"
        async with p.services["notifications"].runtime.sessions() as session:
            queued = await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(col(DeliveryRow.subscription_id) == sid)
            )
        assert queued == 0
        # Another key of the same OPD client manages it; the operators' admin key sees it.
        assert ok(await a2.post(f"/subscriptions/{sid}/pause"))["status"] == "paused"
        assert ok(await admin.get(f"/subscriptions/{sid}"))["client_id"] == "puskesmas-a"
        assert ok(await a.delete(f"/subscriptions/{sid}"))["deleted"] is True
    trail = await audit_rows(p.services["notifications"], col(AuditRecord.entity_id) == sid)
    assert [(t["action"], t["actor_client"]) for t in trail] == [
        ("subscription.create", "puskesmas-a"),
        ("subscription.pause", "puskesmas-a"),
        ("subscription.delete", "puskesmas-a"),
    ]
    assert trail[1]["actor_key"] == p.key_ids["sub-a2"]


async def test_one_opd_cannot_read_another_opds_broadcasts(platform: Platform) -> None:
    p = platform
    async with p.client("notifications", "bc-a") as a, p.client("notifications", "bc-b") as b:
        started = ok(await a.post("/broadcasts", json=p.res["broadcast_body"]), 201)
        assert ok(await a.get(f"/broadcasts/{started['id']}"))["client_id"] == "dp3akb-humas"
        r = await b.get(f"/broadcasts/{started['id']}")
        assert r.status_code == 404, r.text
        assert started["id"] not in [x["id"] for x in ok(await b.get("/broadcasts"))]


async def test_idempotency_keys_belong_to_the_client(platform: Platform) -> None:
    """The same Idempotency-Key from another OPD is another request: B gets its own
    subscription, never A's stored answer (which would leak A's subscription)."""
    p = platform
    body = {**p.res["subscription_body"], "url": "https://hooks.example/idempotent"}
    header = {"Idempotency-Key": "langganan-2026-11"}
    async with p.client("notifications", "sub-a") as a, p.client("notifications", "sub-b") as b:
        first = await a.post("/subscriptions", json=body, headers=header)
        again = await a.post("/subscriptions", json=body, headers=header)
        other = await b.post("/subscriptions", json=body, headers=header)
    assert first.status_code == other.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in other.headers
    assert other.json()["id"] != first.json()["id"] and other.json()["client_id"] == "puskesmas-b"


async def test_only_the_planning_opd_records_a_trainings_attendance(platform: Platform) -> None:
    p = platform
    async with p.client("certification", "train-a") as a, p.client("certification", "train-b") as b:
        training = ok(await a.post("/trainings", json=p.res["training_body"]), 201)
        tid = training["training_id"]
        r = await b.post(f"/trainings/{tid}/completion", json={"attended": [p.res["cadre"]]})
        assert r.status_code == 403, r.text
        assert r.json()["planned_by"] == "puskesmas-a" and "planned the training" in r.json()["detail"]
        assert ok(await b.get(f"/trainings/{tid}"))["status"] == "scheduled"  # nothing recorded
        done = ok(await a.post(f"/trainings/{tid}/completion", json={"attended": [p.res["cadre"]]}))
        assert done["status"] == "completed"


async def test_segregation_of_duties_in_approval(platform: Platform) -> None:
    """Never approved by the key that calculated, nor by another key of that OPD client;
    approved by another client's incentives:approve key. Each refusal says why."""
    p = platform
    period = p.res["sod_period"]
    async with (
        p.client("incentives", "calc-2") as calculator,  # dinkes: calculate + approve
        p.client("incentives", "approve-dinkes") as same_client,
        p.client("incentives", "approver") as bpkad,
    ):
        calculated = ok(await calculator.post(f"/periods/{period}/calculate"))
        assert calculated["state"] == "calculated"

        own = await calculator.post(f"/periods/{period}/approve")
        assert own.status_code == 403, own.text
        assert own.json()["detail"] == "the key that calculated the period cannot approve it (segregation of duties)"
        assert own.json()["calculated_by"] == "dinkes"

        colleague = await same_client.post(f"/periods/{period}/approve")
        assert colleague.status_code == 403, colleague.text
        assert "OPD client 'dinkes' calculated the period" in colleague.json()["detail"]

        still: dict[str, Any] = ok(await bpkad.get(f"/periods/{period}"))
        assert still["state"] == "calculated"  # the refusals changed nothing

        approved = ok(
            await bpkad.post(f"/periods/{period}/approve", json={"decision_hash": calculated["decision_hash"]})
        )
        assert approved["state"] == "approved"

    async with p.client("incentives", "auditor") as auditor:
        trail = ok(await auditor.get("/audit", params={"entity_type": "period", "entity_id": period}))
    assert [(t["action"], t["actor_client"], t["actor_key"]) for t in trail] == [
        ("period.calculate", "dinkes", p.key_ids["calc-2"]),
        ("period.approve", "bpkad", p.key_ids["approver"]),
    ]


async def test_a_revoked_key_is_refused_by_every_service(platform: Platform) -> None:
    """Revoked with the CLI at the registry (in the fixture): every service answers 401 to
    it on a route it could call before, while the key it was issued beside still works."""
    p = platform
    for name in p.services:
        async with p.client(name, "victim") as revoked, p.client(name, "scope:admin") as live:
            r = await revoked.get("/auth/whoami")
            assert r.status_code == 401 and r.json()["detail"] == "unknown or revoked API key", (name, r.text)
            assert (await live.get("/auth/whoami")).status_code == 200
    keys = await eventually(lambda: _keys_listing(p), "the registry lists the revocation")
    victim = next(k for k in keys if k["key_id"] == p.key_ids["victim"])
    assert victim["revoked_at"] is not None and victim["client_id"] == "ops-old"
    [revocation] = await audit_rows(p.services["registry"], col(AuditRecord.action) == "api_key.revoke")
    assert (revocation["entity_id"], revocation["actor_client"]) == (p.key_ids["victim"], "operator-cli")


async def _keys_listing(p: Platform) -> list[dict[str, Any]]:
    async with p.services["registry"].runtime.sessions() as session:
        return await list_keys(session)
