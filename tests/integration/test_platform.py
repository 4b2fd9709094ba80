"""The HTTP plumbing every service shares (auth, Idempotency-Key, audit, health, metrics,
offline docs) and the operator CLI (keys, DLQ re-drive, outbox re-publish), for real."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.db import AuditRecord, OutboxRecord
from sikader_shared.events import CadreDeactivated
from sikader_shared.testing.kafka import as_message, envelope_for, headers_of, publish_raw, wait_for
from tests.conftest import settings_for, subprocess_env
from tests.integration.test_foundation import count, eventually, issue
from tests.support import probe as probe_module
from tests.support.probe import ProbeSettings
from tests.support.probe import definition as probe_definition

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def test_auth_idempotency_and_audit_on_a_write(broker, databases, run_service) -> None:
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))
    _, writer = await issue(probe.runtime, "dinsos", ["registry:write"])
    _, reader = await issue(probe.runtime, "dinsos", ["registry:read"])

    async with probe.client() as anonymous:
        r = await anonymous.post("/probe/cadres", json={"name": "Siti"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    async with probe.client("sk_nothing_valid") as bad:
        assert (await bad.post("/probe/cadres", json={"name": "Siti"})).status_code == 401
    async with probe.client(reader) as client:
        r = await client.post("/probe/cadres", json={"name": "Siti"})
        assert r.status_code == 403 and "registry:write" in r.json()["detail"]
        assert (await client.get("/probe/whoami-read")).status_code == 200

    async with probe.client(writer) as client:
        assert (await client.get("/probe/whoami-read")).status_code == 403
        first = await client.post("/probe/cadres", json={"name": "Siti"}, headers={"Idempotency-Key": "k-1"})
        again = await client.post("/probe/cadres", json={"name": "Siti"}, headers={"Idempotency-Key": "k-1"})
        other = await client.post("/probe/cadres", json={"name": "Ani"}, headers={"Idempotency-Key": "k-1"})
        invalid = await client.post("/probe/cadres", json={"name": ""})
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json() and again.headers.get("idempotent-replayed") == "true"
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["loc"] == ["body", "name"]
    cadre_id = first.json()["cadre_id"]
    outbox = select(func.count()).select_from(OutboxRecord).where(OutboxRecord.key == cadre_id)
    assert await count(probe.runtime, outbox) == 1  # the replay changed nothing
    async with probe.runtime.sessions() as session:
        audit = (await session.execute(select(AuditRecord).where(AuditRecord.action == "cadre.register"))).scalar_one()
    assert (audit.actor_client, audit.entity_id, audit.after) == ("dinsos", cadre_id, {"name": "Siti"})

    # The event carries the OPD client that caused it.
    [record] = await wait_for(broker.bootstrap, topics.CADRE, lambda r: r.key == cadre_id.encode())
    assert headers_of(record)["ce_actor"] == "dinsos"


async def test_health_metrics_and_offline_docs(broker, databases, run_service) -> None:
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    async with registry.client() as client:
        assert (await client.get("/health/live")).json()["status"] == "live"
        ready = (await client.get("/health/ready")).json()
        assert ready["database"] == {"status": "up", "migrated": True} and ready["broker"]["status"] == "up"
        metrics = (await client.get("/metrics")).text
        for name in ("sikader_http_requests_total", "sikader_consumer_lag", "sikader_outbox_backlog",
                     "sikader_dlq_messages_total"):  # fmt: skip
            assert name in metrics
        docs = (await client.get("/docs")).text
        assert "/static/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        assert "http" not in docs.replace("/openapi.json", "")  # no remote asset at all
        assert (await client.get("/static/swagger/swagger-ui-bundle.js")).status_code == 200
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "sikader registry"
        spec = (await client.get("/asyncapi.json")).json()
        addresses = {c["address"] for c in spec["channels"].values()}
        assert topics.AUTH in addresses and topics.CADRE in addresses
        page = (await client.get("/asyncapi")).text
        assert "sikader.registry.cadre.v1" in page and "<script" not in page


def cli(module: str, env: dict[str, str], *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", module, *args], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


async def test_cli_keys_dlq_redrive_and_republish(broker, databases, run_service, tmp_path: Path) -> None:
    url = databases("probe")
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, url)))
    env = subprocess_env("probe", broker, url, tmp_path)
    module = "tests.support.probe"

    issued = await asyncio.to_thread(cli, module, env, "keys", "issue", "--client", "puskesmas", "--scopes",
                                     "certification:assess")  # fmt: skip
    assert issued["key"].startswith("sk_")
    listed = await asyncio.to_thread(cli, module, env, "keys", "list")
    assert [k["client_id"] for k in listed] == ["puskesmas"] and "key" not in listed[0]
    async with probe.client(issued["key"]) as client:
        await eventually(lambda: _ok(client))
    await asyncio.to_thread(cli, module, env, "keys", "revoke", issued["key_id"])
    async with probe.client(issued["key"]) as client:
        await eventually(lambda: _status(client, 401))

    # A handler that fails sends the event to the DLQ; after the fix, the CLI re-drives it.
    failing = CadreDeactivated(
        cadre_id=str(uuid.uuid4()), kelurahan_code="64.71.01.1001", kecamatan_code="64.71.01",
        reason="boom", effective_on=date(2026, 11, 1),
    )  # fmt: skip
    await publish_raw(broker.bootstrap, topics.CADRE, [as_message(failing, envelope_for(failing, "registry"))])
    await wait_for(broker.bootstrap, topics.dlq_topic("probe"), lambda r: True)
    dead = await asyncio.to_thread(cli, module, env, "dlq", "list")
    assert len(dead) == 1 and "handler failed" in dead[0]["dlq_error"] and dead[0]["dlq_attempts"] == "3"
    shown = await asyncio.to_thread(cli, module, env, "dlq", "inspect", str(dead[0]["partition"]),
                                    str(dead[0]["offset"]))  # fmt: skip
    assert json.loads(shown["body"])["cadre_id"] == failing.cadre_id
    probe_module.FAIL_ON_BOOM["enabled"] = False
    try:
        out = await asyncio.to_thread(cli, module, env, "dlq", "redrive", "--partition", str(dead[0]["partition"]),
                                      "--offset", str(dead[0]["offset"]))  # fmt: skip
        assert out == {"redriven": 1}
        applied = select(func.count()).select_from(AuditRecord).where(AuditRecord.entity_id == failing.cadre_id)
        await eventually(lambda: count(probe.runtime, applied))
    finally:
        probe_module.FAIL_ON_BOOM["enabled"] = True

    # Re-publish from a date: the retained key events go out again and are skipped downstream.
    before = probe.runtime.consumer.skipped_total
    queued = await asyncio.to_thread(cli, module, env, "outbox", "republish", "--since", "2020-01-01")
    assert queued["queued"] == 2  # ApiKeyIssued + ApiKeyRevoked
    await eventually(lambda: asyncio.sleep(0, probe.runtime.consumer.skipped_total >= before + 2), timeout=20)
    assert (await asyncio.to_thread(cli, module, env, "outbox", "status")) == {"backlog": 0}


async def _ok(client: Any) -> bool:
    return (await client.get("/auth/whoami")).status_code == 200


async def _status(client: Any, code: int) -> bool:
    return (await client.get("/auth/whoami")).status_code == code
