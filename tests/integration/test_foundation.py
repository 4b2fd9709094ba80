"""The foundation's guarantees over the real broker (and PostgreSQL when TEST_DATABASE_URL
is set): outbox -> broker -> idempotent inbox, DLQ, broker outages and resets, SIGKILL,
revocation everywhere."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from incentives.app import definition as incentives_definition
from incentives.settings import IncentivesSettings
from notifications.app import definition as notifications_definition
from notifications.settings import NotificationsSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.auth import issue_key, revoke_key
from sikader_shared.db import ApiKeyRecord, AuditRecord, InboxRecord
from sikader_shared.events import CadreDeactivated
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for, headers_of, publish_raw, wait_for
from sikader_shared.testing.samples import cadre_registered
from sikader_shared.uow import Actor
from tests.conftest import settings_for, subprocess_env
from tests.support.probe import ProbeSettings
from tests.support.probe import definition as probe_definition

pytestmark = pytest.mark.integration

ADMIN = Actor(client_id="test-admin", scopes=frozenset({"admin"}))


async def count(runtime: ServiceRuntime, stmt: Any) -> int:
    async with runtime.sessions() as session:
        return int(await session.scalar(stmt) or 0)


async def issue(runtime: ServiceRuntime, client: str = "dinkes", scopes: list[str] | None = None) -> tuple[str, str]:
    async with runtime.uow(actor=ADMIN) as uow:
        key_id, key = await issue_key(uow, client, scopes or ["registry:read"])
        await uow.commit()
    return key_id, key


async def has_key(runtime: ServiceRuntime, key_id: str) -> bool:
    async with runtime.sessions() as session:
        return await session.get(ApiKeyRecord, key_id) is not None


async def test_event_written_in_a_transaction_arrives_and_applies_once(broker, databases, run_service) -> None:
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))

    # An event written through the registry's unit of work (outbox) reaches the probe.
    event = cadre_registered()
    async with registry.runtime.uow(actor=ADMIN) as uow:
        env = uow.emit(event)
        await uow.commit()
    applied = select(func.count()).select_from(AuditRecord).where(AuditRecord.entity_id == event.cadre_id)
    await eventually(lambda: count(probe.runtime, applied))

    # The record as published carries the whole CloudEvents envelope, keyed by aggregate.
    [record] = await wait_for(broker.bootstrap, topics.CADRE, lambda r: headers_of(r).get("ce_id") == env.id)
    h = headers_of(record)
    assert record.key == event.cadre_id.encode()
    assert h["ce_specversion"] == "1.0"
    assert h["ce_type"] == "sikader.registry.CadreRegistered.v1"
    assert h["ce_source"] == "sikader/registry"
    assert h["ce_subject"] == event.cadre_id
    assert h["ce_actor"] == "test-admin"
    assert h["content-type"] == "application/json"
    assert h["ce_time"].endswith("Z") and h["ce_correlationid"] and h["ce_causationid"]
    assert json.loads(record.value) == event.to_json_dict()

    # Delivered twice (same ce_id, same body): skipped, the effect stays single.
    await publish_raw(broker.bootstrap, topics.CADRE, [(record.key, record.value, list(record.headers))])
    await eventually(lambda: asyncio.sleep(0, probe.runtime.consumer.skipped_total >= 1))
    assert await count(probe.runtime, applied) == 1
    inbox = select(func.count()).select_from(InboxRecord).where(InboxRecord.event_id == env.id)
    assert await count(probe.runtime, inbox) == 1

    # The key issued at the registry reaches every consumer of sikader.auth.v1 (here: probe).
    key_id, key = await issue(registry.runtime)
    await eventually(lambda: has_key(probe.runtime, key_id))
    async with probe.client(key) as client:
        who = (await client.get("/auth/whoami")).json()
    assert who["client_id"] == "dinkes" and who["scopes"] == ["registry:read"]


async def test_writes_while_broker_is_down_are_published_when_it_returns(broker, databases, run_service) -> None:
    if not broker.restartable:
        pytest.skip("an external broker cannot be stopped by the test")
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))

    await asyncio.to_thread(broker.stop_broker)
    events = [cadre_registered(i) for i in range(25)]
    for ev in events:  # writes keep succeeding while the broker is away
        async with registry.runtime.uow(actor=ADMIN) as uow:
            uow.emit(ev)
            await uow.commit()
    assert await registry.runtime.relay.backlog() == 25

    async def ready_without_broker() -> bool:
        async with registry.client() as client:
            ready = (await client.get("/health/ready")).json()
        return bool(ready["status"] == "ready" and ready["broker"]["status"] == "unreachable")

    await eventually(ready_without_broker, timeout=30)  # ready: writes work; the body reports the broker
    assert await registry.runtime.relay.backlog() == 25

    await asyncio.to_thread(broker.start_broker)  # Tansu comes back empty, Apache Kafka with its log
    ids = {e.cadre_id for e in events}
    applied = select(func.count(func.distinct(AuditRecord.entity_id))).where(
        AuditRecord.action == "probe.applied", AuditRecord.entity_id.in_(ids)
    )
    await eventually(lambda: _equals(count(probe.runtime, applied), 25), timeout=40)
    total = select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "probe.applied")
    assert await count(probe.runtime, total) == 25  # none lost, none doubled
    assert await registry.runtime.relay.backlog() == 0


async def _equals(value: Any, expected: Any) -> bool:
    return (await value) == expected


async def test_poison_messages_go_to_the_dlq_and_the_next_good_one_is_processed(broker, databases, run_service) -> None:
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))
    good = cadre_registered(1)
    env = envelope_for(good, service="registry")
    key, body, headers = as_message(good, env)

    def with_type(ce_type: str, h: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [(k, ce_type.encode() if k == "ce_type" else v) for k, v in h]

    def fresh(h: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
        return [(k, str(uuid.uuid4()).encode() if k == "ce_id" else v) for k, v in h]

    failing = CadreDeactivated(
        cadre_id=str(uuid.uuid4()),
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        reason="boom",
        effective_on=date(2026, 11, 1),
    )
    f_key, f_body, f_headers = as_message(failing, envelope_for(failing, service="registry"))
    poison = [
        ("not json", (key, b"\x00not json{", fresh(headers))),
        ("schema", (key, json.dumps({"cadre_id": 5}).encode(), fresh(headers))),
        ("unknown major version", (key, body, fresh(with_type("sikader.registry.CadreRegistered.v9", headers)))),
        ("missing headers", (key, body, [])),
        ("oversized", (key, b'{"x":"' + b"a" * 300_000 + b'"}', fresh(headers))),
        ("handler failed", (f_key, f_body, f_headers)),
    ]
    first = cadre_registered(2)
    fk, fb, fh = as_message(first, env)  # same ce_id as `good` but a different body, applied first
    await publish_raw(broker.bootstrap, topics.CADRE, [(key, body, headers)])
    applied_good = select(func.count()).select_from(AuditRecord).where(AuditRecord.entity_id == good.cadre_id)
    await eventually(lambda: count(probe.runtime, applied_good))
    await publish_raw(broker.bootstrap, topics.CADRE, [m for _, m in poison] + [(fk, fb, fh)])
    after = cadre_registered(3)
    await publish_raw(broker.bootstrap, topics.CADRE, [as_message(after, envelope_for(after, service="registry"))])

    applied_after = select(func.count()).select_from(AuditRecord).where(AuditRecord.entity_id == after.cadre_id)
    await eventually(lambda: count(probe.runtime, applied_after), timeout=30)
    dead = await wait_for(broker.bootstrap, topics.dlq_topic("probe"), lambda r: True, count=7, timeout=30)
    reasons = [headers_of(r)["dlq_error"] for r in dead]
    for needle in (
        "not JSON",
        "schema",
        "unknown major version",
        "missing CloudEvents headers",
        "exceeds",
        "handler failed",
        "repeated ce_id with a different body",
    ):
        assert any(needle in r for r in reasons), (needle, reasons)
    for r in dead:
        h = headers_of(r)
        assert h["dlq_topic"] == topics.CADRE
        assert h["dlq_consumer"] == "sikader-probe"
        assert int(h["dlq_partition"]) >= 0 and int(h["dlq_offset"]) >= 0 and int(h["dlq_attempts"]) >= 1
    failed = [r for r in dead if "handler failed" in headers_of(r)["dlq_error"]]
    assert headers_of(failed[0])["dlq_attempts"] == "3" and failed[0].value == f_body  # unchanged body
    assert await count(probe.runtime, applied_good) == 1  # the conflicting repeat changed nothing
    async with probe.client() as client:
        assert (await client.get("/health/ready")).status_code == 200
        metrics = (await client.get("/metrics")).text
    assert "sikader_dlq_messages_total 7.0" in metrics


async def test_consumer_killed_mid_batch_neither_loses_nor_duplicates(
    broker, databases, run_subprocess, tmp_path: Path
) -> None:
    url = databases("probe")
    env = subprocess_env("probe", broker, url, tmp_path)
    env["SIKADER_PROBE_CONSUMER_MAX_RECORDS"] = "100"  # many small batches: the kill lands mid-way
    probe = await run_subprocess("probe", env, module="tests.support.probe")
    events = [cadre_registered(i) for i in range(6000)]
    messages = [as_message(e, envelope_for(e, service="registry")) for e in events]
    await publish_raw(broker.bootstrap, topics.CADRE, messages)

    # Kill it while it is working through the batches.
    from sikader_shared.db import make_engine

    engine = make_engine(url)
    try:

        async def applied_count() -> int:
            async with engine.connect() as conn:
                return int(
                    await conn.scalar(
                        select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "probe.applied")
                    )
                    or 0
                )

        await eventually(lambda: _greater(applied_count(), 0), timeout=30, interval=0.01)
        probe.kill()
        at_kill = await applied_count()
        assert at_kill < 6000, "the consumer finished before the kill; make the batch larger"
        await run_subprocess("probe", env, migrate=False, module="tests.support.probe")
        await eventually(lambda: _equals(applied_count(), 6000), timeout=60)
        async with engine.connect() as conn:
            distinct = await conn.scalar(
                select(func.count(func.distinct(AuditRecord.entity_id))).where(AuditRecord.action == "probe.applied")
            )
        assert distinct == 6000
    finally:
        await engine.dispose()


async def _greater(value: Any, than: int) -> bool:
    return (await value) > than


async def test_broker_restart_is_detected_and_healed(broker, databases, run_service) -> None:
    if not broker.restartable:
        pytest.skip("an external broker cannot be restarted by the test")
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))
    before = [cadre_registered(i) for i in range(10)]
    for ev in before:
        async with registry.runtime.uow(actor=ADMIN) as uow:
            uow.emit(ev)
            await uow.commit()
    total = select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "probe.applied")
    await eventually(lambda: _equals(count(probe.runtime, total), 10))
    heals = (registry.runtime.heal_count, probe.runtime.heal_count)

    # Tansu always comes back with no topics, data or offsets; Apache Kafka does when its log dir
    # is wiped and re-formatted with a new cluster id (as a lost volume would leave it).
    await broker.restart(empty=True)
    await eventually(
        lambda: asyncio.sleep(0, registry.runtime.heal_count > heals[0] and probe.runtime.heal_count > heals[1]),
        timeout=30,
    )
    names = {r for r in await _topics(broker.bootstrap)}
    assert set(topics.all_topic_names()) <= names
    # The registry re-published its history; the probe skipped all of it.
    republished = await wait_for(broker.bootstrap, topics.CADRE, lambda r: True, count=10, timeout=30)
    assert len(republished) >= 10
    later = cadre_registered(99)
    async with registry.runtime.uow(actor=ADMIN) as uow:
        uow.emit(later)
        await uow.commit()
    await eventually(lambda: _equals(count(probe.runtime, total), 11), timeout=30)
    await asyncio.sleep(1.0)
    assert await count(probe.runtime, total) == 11  # downstream state unchanged by the replay


async def _topics(bootstrap: str) -> set[str]:
    from sikader_shared.kafka import list_topics

    return await list_topics(bootstrap)


async def test_revoked_key_is_refused_by_every_service_within_5_seconds(broker, databases, run_service) -> None:
    defs = [
        registry_definition(settings_for(RegistrySettings, broker, databases("registry"))),
        certification_definition(settings_for(CertificationSettings, broker, databases("certification"))),
        incentives_definition(settings_for(IncentivesSettings, broker, databases("incentives"))),
        notifications_definition(settings_for(NotificationsSettings, broker, databases("notifications"))),
    ]
    services = [await run_service(d) for d in defs]
    registry = services[0]
    key_id, key = await issue(registry.runtime, "dp3akb", ["registry:read"])

    async def status_everywhere() -> list[int]:
        codes = []
        for svc in services:
            async with svc.client(key) as client:
                codes.append((await client.get("/auth/whoami")).status_code)
        return codes

    await eventually(lambda: _equals(status_everywhere(), [200] * 4), timeout=20)
    async with registry.runtime.uow(actor=ADMIN) as uow:
        await revoke_key(uow, key_id, "test")
        await uow.commit()
    started = time.monotonic()
    await eventually(lambda: _equals(status_everywhere(), [401] * 4), timeout=5, interval=0.05)
    elapsed = time.monotonic() - started
    assert elapsed < 5
    # and the revoked key never comes back
    await asyncio.sleep(1.0)
    assert await status_everywhere() == [401] * 4
    for svc in services:
        async with svc.client() as client:
            assert (await client.get("/auth/whoami")).status_code == 401  # no key at all
