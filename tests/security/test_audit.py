"""Issue 9, item 5: every write is recorded (who: OPD client and key; when; what; before and
after), queryable with `audit:read` per cadre (GET /audit?entity_type=cadre&entity_id=...,
every service) and per Posyandu (GET /audit/posyandu/{id} at the registry: the Posyandu's
own writes and every cadre write whose before or after state names it), and no route can
change or delete the trail. (That the first success of every write route left a row naming
its caller is checked by the access matrix; PII reads by test_pii.)"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from registry.adapters.repository import snapshot_posyandu
from sikader_shared.db import AuditRecord
from tests.security.conftest import KELURAHAN, Platform, audit_rows, cadre_body, ok
from tests.security.routes import code_access

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]

REPO = Path(__file__).resolve().parents[2]


def times_within(rows: list[dict[str, Any]], start: datetime, end: datetime) -> None:
    at = [datetime.fromisoformat(r["at"]) for r in rows]
    assert all(start <= t <= end for t in at), (start, at, end)
    assert at == sorted(at)  # oldest first


async def test_writes_are_in_the_trail_with_who_when_what_before_and_after(platform: Platform) -> None:
    p = platform
    started = datetime.now(UTC)
    async with p.client("registry", "writer") as w:
        posyandu = {
            "name": "Posyandu Audit Melati",
            "kelurahan_code": KELURAHAN,
            "posyandu_type": "balita",
            "rw": "001",
        }
        pid = ok(await w.post("/posyandu", json=posyandu), 201)["id"]
        ok(await w.patch(f"/posyandu/{pid}", json={"rw": "003"}))
        body = cadre_body(40, "Ratna Audit", posyandu_id=pid, phone="0812-1111-2222")
        cid = ok(await w.post("/cadres", json=body), 201)["id"]
        ok(await w.patch(f"/cadres/{cid}", json={"phone": "0812-3333-4444"}))
        ok(await w.post(f"/cadres/{cid}/deactivation", json={"reason": "pindah domisili"}))
    finished = datetime.now(UTC)
    writer = ("dinsos", p.key_ids["writer"])

    async with p.client("registry", "auditor") as auditor:
        of_posyandu = ok(await auditor.get("/audit", params={"entity_type": "posyandu", "entity_id": pid}))
        of_cadre = ok(await auditor.get("/audit", params={"entity_type": "cadre", "entity_id": cid}))
    assert [(x["action"], x["actor_client"], x["actor_key"]) for x in of_posyandu] == [
        ("posyandu.register", *writer),
        ("posyandu.update", *writer),
    ]
    register, update = of_posyandu
    assert register["before"] is None and (register["after"]["name"], register["after"]["rw"]) == (
        posyandu["name"],
        "001",
    )
    assert (update["before"]["rw"], update["after"]["rw"]) == ("001", "003")
    assert [(x["action"], x["actor_client"], x["actor_key"]) for x in of_cadre] == [
        ("cadre.register", *writer),
        ("cadre.update", *writer),
        ("cadre.deactivate", *writer),
    ]
    assert of_cadre[0]["after"]["posyandu_id"] == pid
    assert of_cadre[1]["after"]["personal_data_changed"] == ["phone"]  # which field, never its value
    assert (of_cadre[2]["before"]["status"], of_cadre[2]["after"]["status"]) == ("active", "inactive")
    assert of_cadre[2]["after"]["reason"] == "pindah domisili"
    trail_text = str(of_cadre)
    # The NIK and both phones, in every form they could be stored in (ids and times may hold "1111").
    for secret in (body["nik"], "81211112222", "0812-1111-2222", "81233334444", "0812-3333-4444"):
        assert secret not in trail_text, secret
    for rows in (of_posyandu, of_cadre):
        times_within(rows, started, finished)
        assert all(x["correlation_id"] for x in rows)

    # The other services: the setup's writes, each naming its OPD client and key.
    r = p.res
    async with p.client("certification", "auditor") as auditor:
        cert = ok(
            await auditor.get("/audit", params={"entity_type": "certificate", "entity_id": r["certificate_of_cadre"]})
        )
        training = ok(await auditor.get("/audit", params={"entity_type": "training", "entity_id": r["training"]}))
    assert (cert[0]["action"], cert[0]["actor_client"], cert[0]["actor_key"]) == (
        "certificate.issue",
        "puskesmas-kli",
        p.key_ids["assessor"],
    )
    assert cert[0]["before"] is None and (cert[0]["after"]["level"], cert[0]["after"]["status"]) == ("Purwa", "valid")
    assert (training[0]["action"], training[0]["actor_key"]) == (
        "training.create",
        p.key_ids["scope:certification:train"],
    )

    async with p.client("incentives", "auditor") as auditor:
        period = ok(await auditor.get("/audit", params={"entity_type": "period", "entity_id": r["period"]}))
    assert [(x["action"], x["actor_client"], x["actor_key"]) for x in period[:2]] == [
        ("period.calculate", "dinkes", p.key_ids["calc"]),
        ("period.approve", "bpkad", p.key_ids["approver"]),
    ]
    assert (period[0]["before"]["state"], period[0]["after"]["state"]) == ("open", "calculated")
    assert (period[1]["before"]["state"], period[1]["after"]["state"]) == ("calculated", "approved")

    async with p.client("notifications", "auditor") as auditor:
        sub = ok(await auditor.get("/audit", params={"entity_type": "subscription", "entity_id": r["subscription"]}))
    assert (sub[0]["action"], sub[0]["actor_client"]) == ("subscription.create", "opd-notifications-subscribe")
    assert sub[0]["after"]["url"] == r["subscription_body"]["url"]
    assert r["subscription_body"]["secret"] not in str(sub)  # the shared secret never enters the trail

    # Without audit:read: 403; without a key: 401 (every service).
    for name in p.services:
        async with p.client(name, "scope:registry:read") as reader, p.client(name, None) as anonymous:
            params = {"entity_type": "cadre", "entity_id": cid}
            assert (await reader.get("/audit", params=params)).status_code == 403
            assert (await anonymous.get("/audit", params=params)).status_code == 401


async def test_the_trail_of_a_posyandu_holds_its_writes_and_its_cadres_writes(platform: Platform) -> None:
    """A cadre registered at Anggrek, changed, transferred to Dahlia and deactivated there;
    Kamboja merged into Dahlia with its cadre. Each Posyandu's trail holds what concerned it
    while it did: Anggrek sees the transfer out, not the later deactivation."""
    p = platform
    async with p.client("registry", "writer") as w:

        async def posyandu(name: str) -> str:
            body = {"name": name, "kelurahan_code": KELURAHAN, "posyandu_type": "balita"}
            return str(ok(await w.post("/posyandu", json=body), 201)["id"])

        async def cadre(serial: int, name: str, at: str) -> str:
            return str(ok(await w.post("/cadres", json=cadre_body(serial, name, posyandu_id=at)), 201)["id"])

        anggrek, dahlia, kamboja = [await posyandu(f"Posyandu Jejak {n}") for n in ("Anggrek", "Dahlia", "Kamboja")]
        k = await cadre(41, "Kartini Jejak", anggrek)
        ok(await w.patch(f"/cadres/{k}", json={"name": "Kartini Jejak Lestari"}))
        m = await cadre(42, "Maryam Jejak", kamboja)
        ok(await w.post(f"/cadres/{k}/assignment", json={"posyandu_id": dahlia, "reason": "transfer"}))
        ok(await w.post(f"/cadres/{k}/deactivation", json={"reason": "berhenti"}))
        other = await cadre(43, "Lina Jejak", dahlia)
        merged = {"closure": "merged", "merged_into_posyandu_id": dahlia, "reason": "digabung"}
        ok(await w.post(f"/posyandu/{kamboja}/closure", json=merged))

    async with p.client("registry", "auditor") as auditor:

        async def trail(pid: str, **params: Any) -> list[dict[str, Any]]:
            return list(ok(await auditor.get(f"/audit/posyandu/{pid}", params=params)))

        def what(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
            return [(x["action"], x["entity_id"]) for x in rows]

        of_anggrek, of_dahlia, of_kamboja = await trail(anggrek), await trail(dahlia), await trail(kamboja)
        assert what(of_anggrek) == [
            ("posyandu.register", anggrek),
            ("cadre.register", k),
            ("cadre.update", k),
            ("cadre.assign", k),  # the transfer out: before names Anggrek
        ]
        assert what(of_dahlia) == [
            ("posyandu.register", dahlia),
            ("cadre.assign", k),  # the transfer in
            ("cadre.deactivate", k),
            ("cadre.register", other),
            ("cadre.assign", m),  # moved in by the merger
        ]
        assert sorted(what(of_kamboja)) == sorted(
            [("posyandu.register", kamboja), ("cadre.register", m), ("cadre.assign", m), ("posyandu.close", kamboja)]
        )
        transfer = of_anggrek[-1]
        assert (transfer["before"]["posyandu_id"], transfer["after"]["posyandu_id"]) == (anggrek, dahlia)
        moved = of_dahlia[-1]
        assert (moved["before"]["posyandu_id"], moved["after"]["posyandu_id"], moved["after"]["reason"]) == (
            kamboja,
            dahlia,
            "posyandu_merged",
        )
        for rows in (of_anggrek, of_dahlia, of_kamboja):
            assert [x["id"] for x in rows] == sorted(x["id"] for x in rows)
            assert {(x["actor_client"], x["actor_key"]) for x in rows} == {("dinsos", p.key_ids["writer"])}

        # Paged with `after` (the last id seen): the same rows, in the same order.
        first = await trail(dahlia, limit=2)
        rest = await trail(dahlia, after=first[-1]["id"])
        assert what(first + rest) == what(of_dahlia) and len(first) == 2

        missing = await auditor.get("/audit/posyandu/00000000-0000-4000-8000-000000000000")
        assert missing.status_code == 404, missing.text
    async with p.client("registry", "reader") as reader:
        assert (await reader.get(f"/audit/posyandu/{anggrek}")).status_code == 403


async def test_the_posyandu_trail_query_uses_its_indexes(platform: Platform) -> None:
    """The cadre parts of the query are written as the expression indexes of registry_0003:
    the database plans an index scan (with sequential scans discouraged: tables here are tiny)."""
    async with platform.services["registry"].runtime.sessions() as session:
        dialect = session.get_bind().dialect
        for side in ("before", "after"):
            stmt = select(AuditRecord).where(
                text("audit_log.entity_type = 'cadre'"), snapshot_posyandu(side, dialect.name) == "some-posyandu"
            )
            sql = str(stmt.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            if dialect.name == "postgresql":
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                plan = "\n".join(str(row[0]) for row in await session.execute(text(f"EXPLAIN {sql}")))
            else:
                plan = str(list(await session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))))
            assert f"ix_audit_cadre_{side}_posyandu" in plan, plan


async def test_no_route_changes_the_audit_trail(platform: Platform) -> None:
    p = platform
    grown = 0
    for name, svc in p.services.items():
        # Every route under /audit, in every app, only reads.
        audit_routes = [(method, path) for method, path, _ in code_access(svc.app) if path.startswith("/audit")]
        assert audit_routes and {m for m, _ in audit_routes} == {"GET"}, (name, audit_routes)
        # Any other method is not there, even for the admin key.
        paths = ["/audit", *([f"/audit/posyandu/{p.res['posyandu']}"] if name == "registry" else [])]
        async with p.client(name, "scope:admin") as admin:
            for path in paths:
                for method in ("POST", "PUT", "PATCH", "DELETE"):
                    r = await admin.request(method, path, params={"entity_type": "cadre", "entity_id": p.res["cadre"]})
                    assert r.status_code == 405, (name, method, path, r.status_code)
        # Every row there when the platform was set up is still there, unchanged, after
        # everything since (the access matrix, when it ran first, called every write route
        # as admin and as its scope's key; this module's own tests write to the registry).
        now = {row["id"]: row for row in await audit_rows(svc)}
        for row in p.audit_at_start[name]:
            assert now.get(row["id"]) == row, (name, row)
        grown += len(now) - len(p.audit_at_start[name])
    assert grown > 0

    # No code path updates or deletes audit rows (the only writes are the inserts of a unit
    # of work and the registry's bulk import).
    mutations = re.compile(r"(?i)(update|delete\s+from)\s+[\"']?audit_log|(update|delete)\(\s*AuditRecord")
    sources = [*REPO.glob("services/*/*/**/*.py"), *REPO.glob("shared/sikader_shared/**/*.py")]
    assert len(sources) > 50
    found = [
        f"{path}:{n}"
        for path in sources
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if mutations.search(line)
    ]
    assert not found, found
