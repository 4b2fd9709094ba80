"""Issue 14, item 1: one oversized or refused dead letter never stops a partition.

On the real broker, with the probe service (a consumer of sikader.registry.cadre.v1):
- one batch on one partition mixes good events with every kind of bad message the contract
  names, a body over the consumer's maximum, one just under and one just over the DLQ
  producer's limit (the last close to the broker's message.max.bytes): each bad one is
  dead-lettered once (the too-large one as a reference: origin, size, sha256), each good one
  applied once, and the committed offset reaches the end within seconds;
- a DLQ topic that refuses every message (its max.message.bytes set below any message): after
  bounded retries the dead letters are kept in the service's database, the partition moves on,
  the service stays ready, `dlq list` shows them and `dlq redrive --kept` sends them back to
  their topic.
Before this, a dead letter the DLQ producer could not send made the consumer nack and re-read
its batch for ever, re-publishing the batch's other dead letters each second."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import func
from sqlmodel import col, select

from sikader_shared import topics
from sikader_shared.db import AuditRecord, DlqRecord
from sikader_shared.events import CadreDeactivated
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for, headers_of, read_topic
from sikader_shared.testing.samples import cadre_registered
from tests.conftest import settings_for, subprocess_env
from tests.support.probe import ProbeSettings
from tests.support.probe import definition as probe_definition

pytestmark = pytest.mark.integration

KEY = b"one-partition"  # every message on one partition: one batch, one committed offset
DLQ = topics.dlq_topic("probe")
GROUP = "sikader-probe"
DLQ_LIMIT = 1_000_000  # ServiceSettings.dlq_max_message_bytes


def message(event: Any) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    _, body, headers = as_message(event, envelope_for(event, service="registry"))
    return KEY, body, headers


def fresh(headers: list[tuple[str, bytes]], **override: str) -> list[tuple[str, bytes]]:
    out = [(k, str(uuid.uuid4()).encode() if k == "ce_id" else v) for k, v in headers]
    return [(k, override[k].encode() if k in override else v) for k, v in out]


def padded(size: int, headers: list[tuple[str, bytes]]) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """A valid JSON body of exactly `size` bytes (over the consumer's maximum: dead-lettered)."""
    body = b'{"pad":"' + b"a" * (size - 10) + b'"}'
    assert len(body) == size
    return KEY, body, fresh(headers)


async def publish(bootstrap: str, messages: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_576 * 2)
    await producer.start()
    try:
        for key, value, headers in messages:  # one by one: each large one is its own request
            await producer.send_and_wait(topics.CADRE, value=value, key=key, headers=headers)
    finally:
        await producer.stop()


async def committed_to_end(bootstrap: str) -> bool:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=GROUP, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(topics.CADRE, p) for p in consumer.partitions_for_topic(topics.CADRE) or ()]
        ends = await consumer.end_offsets(parts)
        for tp, end in ends.items():
            if end and (await consumer.committed(tp) or 0) < end:
                return False
        return bool(parts)
    finally:
        await consumer.stop()


async def applied(runtime: ServiceRuntime, cadre_ids: list[str]) -> int:
    async with runtime.sessions() as session:
        stmt = select(func.count()).select_from(AuditRecord).where(
            AuditRecord.action == "probe.applied", col(AuditRecord.entity_id).in_(cadre_ids)
        )
        return int(await session.scalar(stmt) or 0)


def bad_messages(template: list[tuple[str, bytes]]) -> dict[str, tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    good = cadre_registered(-1)
    _, body, headers = message(good)
    failing = CadreDeactivated(
        cadre_id=str(uuid.uuid4()), kelurahan_code="64.71.01.1001", kecamatan_code="64.71.01",
        reason="boom", effective_on=date(2026, 11, 1),
    )  # fmt: skip
    repeat_first = cadre_registered(-2)
    _, other_body, _ = message(cadre_registered(-3))
    _, first_body, first_headers = message(repeat_first)
    return {
        "not JSON": (KEY, b"\x00not json{", fresh(headers)),
        "schema": (KEY, json.dumps({"cadre_id": 5}).encode(), fresh(headers)),
        "unknown major version": (KEY, body, fresh(headers, ce_type="sikader.registry.CadreRegistered.v9")),
        "missing CloudEvents headers": (KEY, body, []),
        "handler failed": message(failing),
        "repeated ce_id with a different body": (KEY, other_body, first_headers),  # after its first copy
        "over the consumer's maximum": padded(300_000, template),
        "just under the DLQ limit": padded(DLQ_LIMIT - 4_000, template),
        "just over the DLQ limit": padded(DLQ_LIMIT + 4_000, template),
        "close to the broker's message.max.bytes": padded(1_048_000, template),
        "_first copy": (KEY, first_body, first_headers),
    }


async def test_one_batch_of_bad_large_and_good_messages_moves_on_within_seconds(
    broker: Any, databases: Any, run_service: Any
) -> None:
    probe = await run_service(probe_definition(settings_for(ProbeSettings, broker, databases("probe"))))
    goods = [cadre_registered(i) for i in range(20)]
    bads = bad_messages(message(goods[0])[2])
    first_copy = bads.pop("_first copy")
    batch = [message(goods[0]), first_copy]
    for i, (_, m) in enumerate(bads.items()):
        batch += [m, message(goods[i + 1])]
    batch += [message(g) for g in goods[len(bads) + 1 :]]
    started = time.monotonic()
    await publish(broker.bootstrap, batch)

    await eventually(lambda: committed_to_end(broker.bootstrap), timeout=30, interval=0.2)
    moved_on_s = time.monotonic() - started
    assert moved_on_s < 20, f"the partition took {moved_on_s:.1f} s to move past the bad messages"
    ids = [g.cadre_id for g in goods]
    assert await applied(probe.runtime, ids) == len(goods)  # each good one once

    dead = await read_topic(broker.bootstrap, DLQ)
    reasons = [headers_of(r)["dlq_error"] for r in dead]
    assert len(dead) == len(bads), reasons  # each bad one once: no copies from a re-read batch
    assert len({headers_of(r)["dlq_offset"] for r in dead}) == len(bads)
    for needle in ("not JSON", "schema", "unknown major version", "missing CloudEvents headers", "handler failed",
                   "repeated ce_id with a different body", "exceeds"):  # fmt: skip
        assert any(needle in r for r in reasons), (needle, reasons)
    by_size = {int(headers_of(r).get("dlq_body_size", len(r.value or b""))): r for r in dead}
    carried = by_size[DLQ_LIMIT - 4_000]
    assert "dlq_body_omitted" not in headers_of(carried) and len(carried.value) == DLQ_LIMIT - 4_000
    for size in (DLQ_LIMIT + 4_000, 1_048_000):
        ref = by_size[size]
        h = headers_of(ref)
        assert h["dlq_body_omitted"] == "true" and h["dlq_topic"] == topics.CADRE, h
        reference = json.loads(ref.value)
        original = padded(size, [])[1]
        assert reference == {
            "dlq_body_omitted": True,
            "topic": topics.CADRE,
            "partition": int(h["dlq_partition"]),
            "offset": int(h["dlq_offset"]),
            "size": size,
            "sha256": hashlib.sha256(original).hexdigest(),
        }
        assert h["dlq_body_sha256"] == reference["sha256"] and h["ce_id"], h  # contract headers kept
    async with probe.client() as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["consumer"]["stalled_partitions"] == []


def cli(env: dict[str, str], *args: str) -> Any:
    out = subprocess.run(
        [sys.executable, "-m", "tests.support.probe", *args], env={**os.environ, **env},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout)


async def test_a_dlq_topic_that_refuses_everything_never_stops_the_partition(
    broker: Any, databases: Any, run_service: Any, tmp_path: Path
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
    await admin.start()
    try:  # the service finds its DLQ topic there and keeps it as it is
        await admin.create_topics([NewTopic(DLQ, 6, 1, topic_configs={"max.message.bytes": "200"})])
    finally:
        await admin.close()
    url = databases("probe")
    settings = settings_for(ProbeSettings, broker, url)
    probe = await run_service(probe_definition(settings))
    goods = [cadre_registered(i) for i in range(6)]
    bads = [(KEY, b"not json at all", fresh(message(goods[0])[2])) for _ in range(3)]
    batch = [message(goods[0]), bads[0], message(goods[1]), bads[1], bads[2], *(message(g) for g in goods[2:])]
    await publish(broker.bootstrap, batch)

    await eventually(lambda: committed_to_end(broker.bootstrap), timeout=60, interval=0.2)
    assert await applied(probe.runtime, [g.cadre_id for g in goods]) == len(goods)
    assert await read_topic(broker.bootstrap, DLQ) == []
    async with probe.runtime.sessions() as session:
        kept = (await session.exec(select(DlqRecord).where(col(DlqRecord.published).is_(False)))).all()
    assert len(kept) == 3 and all(k.message_value == b"not json at all" for k in kept)
    assert all("TooLarge" in (k.publish_error or "") for k in kept), [k.publish_error for k in kept]
    await probe.runtime.refresh_gauges()
    async with probe.client() as client:
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert "sikader_dlq_kept_unpublished 3.0" in metrics
    # counters, not gauges (issue 14 item 8): a scrape sees them only grow
    assert "# TYPE sikader_dlq_messages_total counter" in metrics and "sikader_dlq_messages_total 3.0" in metrics
    assert "# TYPE sikader_outbox_published_total counter" in metrics

    env = subprocess_env("probe", broker, url, tmp_path)
    listed = await asyncio.to_thread(cli, env, "dlq", "list")
    assert [x["where"] for x in listed] == ["database"] * 3 and all(x["dlq_topic"] == topics.CADRE for x in listed)
    out = await asyncio.to_thread(cli, env, "dlq", "redrive", "--kept")
    assert out == {"redriven": 3}
    # Back on their topic; the consumer dead-letters them again, and keeps them again (the DLQ
    # topic still refuses): the first three are marked re-driven, three new ones are kept.
    records = await read_topic(broker.bootstrap, topics.CADRE)
    assert sum(1 for r in records if r.value == b"not json at all") == 6

    async def kept_again() -> bool:
        async with probe.runtime.sessions() as session:
            rows = (await session.exec(select(DlqRecord))).all()
        redriven = [r for r in rows if r.published and (r.publish_error or "").startswith("re-driven")]
        return len(redriven) == 3 and len([r for r in rows if not r.published]) == 3

    await eventually(kept_again, timeout=30)
