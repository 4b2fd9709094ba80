"""The registry's console flows over the real broker: a Posyandu sent back for correction
publishes PosyanduFacilityReturned with the CloudEvents headers; an asynchronous import's
job finishes in chunks and its cadres' events are published as the uploader's."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from registry.app import definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.auth import issue_key
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import headers_of, wait_for
from sikader_shared.uow import Actor
from tests.conftest import settings_for
from tests.registry.conftest import make_nik

pytestmark = pytest.mark.integration
ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))


def _of(ce_type: str, key: str | None = None) -> Any:
    def match(record: Any) -> bool:
        return headers_of(record).get("ce_type") == f"sikader.registry.{ce_type}.v1" and (
            key is None or record.key == key.encode()
        )

    return match


async def test_returned_event_and_an_async_import_over_the_broker(
    broker: Any, databases: Any, run_service: Any
) -> None:
    settings = settings_for(RegistrySettings, broker, databases("registry"), import_chunk_rows=2, import_poll_s=0.1)
    registry = await run_service(definition(settings))
    async with registry.runtime.uow(actor=ADMIN) as uow:
        _, dinsos = await issue_key(uow, "dinsos", ["registry:read", "registry:write"])
        _, dinkes = await issue_key(uow, "dinkes", ["registry:read", "posyandu:verify"])
        await uow.commit()
    bootstrap = registry.runtime.settings.kafka_bootstrap_servers

    async with registry.client(dinsos) as w:
        created = await w.post(
            "/posyandu", json={"name": "Posyandu Melati", "kelurahan_code": "64.71.06.1002", "posyandu_type": "balita"}
        )
        pid = created.json()["id"]
        assessment = {"facility_status": "none", "assessed_by": "Puskesmas Klandasan Ilir", "assessed_on": "2026-11-02"}
        assert (await w.post(f"/posyandu/{pid}/assessments", json=assessment)).status_code == 201
    async with registry.client(dinkes) as v:
        sent_back = await v.post(
            f"/posyandu/{pid}/verification", json={"decision": "RETURNED", "reason": "no place recorded: assess again"}
        )
        assert sent_back.status_code == 201, sent_back.text
    [record] = await wait_for(bootstrap, topics.POSYANDU, _of("PosyanduFacilityReturned", pid))
    h = headers_of(record)
    assert set(REQUIRED_HEADERS) <= set(h) and h["ce_specversion"] == "1.0" and h["ce_subject"] == pid
    assert (h["ce_source"], h["ce_actor"], h["content-type"]) == ("sikader/registry", "dinkes", "application/json")
    returned = json.loads(record.value)
    assert returned["reason"] == "no place recorded: assess again" and returned["decided_by"] == "dinkes"
    assert returned["assessment_id"] == sent_back.json()["assessment_id"] and returned["name"] == "Posyandu Melati"

    birth = date(1990, 8, 15)
    lines = ["nik,name,sex,birth_date,posyandu_id"]
    lines += [f"{make_nik(birth, 'F', serial=n)},Kader {n},P,{birth},{pid}" for n in range(1, 6)]
    lines.append(f"{make_nik(birth, 'F', serial=9)},Salah,L,{birth},{pid}")  # the NIK says female
    csv = ("\n".join(lines) + "\n").encode()
    async with registry.client(dinsos) as w:
        queued = await w.post("/imports/cadres", content=csv, headers={"content-type": "text/csv"})
        assert queued.status_code == 202, queued.text
        job = queued.json()
        assert (job["kind"], job["rows_total"], job["rows_done"]) == ("cadres", 6, 0)
        assert queued.headers["location"] == f"/imports/{job['id']}"

        async def finished() -> Any:
            state = (await w.get(queued.headers["location"])).json()
            return state if state["status"] in ("done", "failed") else None

        done = await eventually(finished, "the import job to finish")
        listed = (await w.get("/imports")).json()
    assert (done["status"], done["rows_done"], done["percent"]) == ("done", 6, 100.0)
    assert done["report"]["registered"] == 5 and [e["line"] for e in done["report"]["errors"]] == [7]
    assert [j["id"] for j in listed] == [job["id"]]
    registered = await wait_for(bootstrap, topics.CADRE, _of("CadreRegistered"), count=5)
    assert {headers_of(r)["ce_actor"] for r in registered} == {"dinsos"}
    assert {json.loads(r.value)["cadre_id"] for r in registered} == {
        r["cadre_id"] for r in done["report"]["registered_ids"]
    }
    async with registry.client(dinkes) as other:
        assert (await other.get(f"/imports/{job['id']}")).status_code == 404  # another client's job
