"""10,000 malformed Kafka messages of every kind the contract's consumer rules name (plus
oversized bodies, missing headers, handlers that keep failing), interleaved with good events,
repeats of good events and event types the service does not subscribe to, published raw to
the cadre topic that the certification service consumes.

Every bad message must land on sikader.dlq.certification exactly once, unchanged, with the
reason and its original partition and offset; every repeat with the same body is skipped;
every good event is applied (the cadre projection shows it); ignored types have no effect
and are not dead-lettered; the service stays ready throughout; the DLQ metric matches."""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import func, select

from certification.adapters.tables import CadreRow
from certification.app import definition
from certification.settings import CertificationSettings
from sikader_shared import topics
from sikader_shared.db import DlqRecord, InboxRecord
from sikader_shared.envelope import encode_headers
from sikader_shared.events import CadreRegistered
from sikader_shared.testing.kafka import envelope_for, read_topic
from tests.conftest import settings_for
from tests.robustness.conftest import CASES

pytestmark = [pytest.mark.integration, pytest.mark.slow]

N_BAD = int(os.environ.get("SIKADER_MALFORMED_COUNT", "10000"))
N_GOOD = 2_000
N_REPEATS = 500  # good events published again: same ce_id, same body
N_IGNORED = 200  # types the service does not subscribe to
KEC, KEL = "64.71.01", "64.71.01.1001"
TOPIC = topics.CADRE
CONSUMER = "sikader-certification"
NOT_JSON = "body is not JSON"


@dataclass
class Message:
    kind: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    reason: tuple[str, ...] = ()  # substrings of dlq_error; empty: must not be dead-lettered
    attempts: int = 1
    partition: int = -1
    offset: int = -1


@dataclass
class Good:
    event: CadreRegistered
    message: Message
    headers: dict[str, str] = field(default_factory=dict)


def good(i: int) -> Good:
    cadre_id = str(uuid.uuid4())
    event = CadreRegistered(
        cadre_id=cadre_id,
        kelurahan_code=KEL,
        kecamatan_code=KEC,
        name=f"Kader {i:05d}",
        roles=["posyandu_cadre"],
        status="active",
        registered_at=datetime(2026, 1, 5, 1, 0, tzinfo=UTC),
        joined_on=date(2020, 1, 1),
    )
    env = envelope_for(event, service="registry", actor="dinsos")
    headers = env.headers()
    body = json.dumps(event.to_json_dict()).encode()
    return Good(event, Message("good", cadre_id.encode(), body, encode_headers(headers)), headers)


def _headers(base: dict[str, str], drop: tuple[str, ...] = (), **override: str | bytes) -> list[tuple[str, bytes]]:
    out = [(k, v.encode()) for k, v in base.items() if k not in drop and k not in override]
    return out + [(k, v if isinstance(v, bytes) else v.encode()) for k, v in override.items()]


def _body(g: Good, **changes: Any) -> bytes:
    data = g.event.to_json_dict()
    for k, v in changes.items():
        if v is None:
            data.pop(k)
        else:
            data[k] = v
    return json.dumps(data).encode()


def bad(kind: str, g: Good) -> Message:
    """One malformed message of `kind`, built from a fresh good event `g` (never published
    itself: its cadre must not appear in the projection)."""
    h, key = g.headers, g.message.key
    fresh = {**h, "ce_id": str(uuid.uuid4())}
    cadre_type = h["ce_type"]

    def m(value: bytes | None, headers: list[tuple[str, bytes]], *reason: str, attempts: int = 1) -> Message:
        return Message(kind, key, value, headers, reason, attempts)

    body_kinds = {
        "not_json": b"{cadre_id: kader}",
        "invalid_utf8": b'{"cadre_id": "\xc3\x28", "name": "\xff"}',
        "empty_body": b"",
        "too_deep": b"[" * 5000 + b"]" * 5000,  # deeper than any parser should recurse
    }
    schema_kinds: dict[str, tuple[bytes, str]] = {
        "json_array": (b"[1, 2, 3]", "schema"),
        "json_string": (b'"kader"', "schema"),
        "json_number": (b"42", "schema"),
        "json_null": (b"null", "schema"),
        "missing_field": (_body(g, name=None), "name"),
        "bad_enum": (_body(g, status="zombie"), "status"),
        "bad_datetime": (_body(g, registered_at="kemarin sore"), "registered_at"),
        "wrong_type": (_body(g, roles="posyandu_cadre"), "roles"),
        "null_required": (_null(g, "kecamatan_code"), "kecamatan_code"),
    }
    if kind in body_kinds:
        return m(body_kinds[kind], _headers(fresh), NOT_JSON)
    if kind == "null_value":  # a tombstone
        return m(None, _headers(fresh), NOT_JSON)
    if kind in schema_kinds:
        value, field_name = schema_kinds[kind]
        return m(value, _headers(fresh), "schema", field_name)
    if kind == "unknown_major_v9":
        return m(g.message.value, _headers(fresh, ce_type=cadre_type[:-2] + "v9"), "unknown major version")
    if kind == "unknown_major_v2":
        return m(g.message.value, _headers(fresh, ce_type=cadre_type[:-2] + "v2"), "unknown major version")
    for name in ("ce_id", "ce_type", "ce_source", "ce_specversion"):
        if kind == f"missing_{name}":
            return m(g.message.value, _headers(fresh, drop=(name,)), "missing CloudEvents headers", name)
        if kind == f"empty_{name}":
            return m(g.message.value, _headers(fresh, **{name: ""}), "missing CloudEvents headers", name)
    if kind == "no_headers":
        return m(g.message.value, [], "missing CloudEvents headers")
    if kind == "bad_specversion":
        return m(g.message.value, _headers(fresh, ce_specversion="0.3"), "ce_specversion")
    if kind == "bad_ce_time":
        return m(g.message.value, _headers(fresh, ce_time="kemarin sore"), "ce_time")
    if kind == "header_not_utf8":
        return m(g.message.value, _headers(fresh, ce_subject=b"\xff\xfe"), "ce_subject", "not UTF-8")
    if kind == "oversized":  # a valid event padded beyond max_event_bytes (262,144)
        return m(_body(g, padding="x" * 270_000), _headers(fresh), "exceeds 262144")
    # Both used to pass the schema and fail in the handler on PostgreSQL only (SQLite stored
    # them): now refused when the event is read, on either database.
    if kind == "handler_fails_nul":
        return m(_body(g, name="Kader\u0000"), _headers(fresh), "schema", "NUL character")
    if kind == "handler_fails_long":  # longer than the projections' 200 characters
        return m(_body(g, name="K" * 300), _headers(fresh), "schema", "at most 200")
    raise AssertionError(kind)


def _null(g: Good, name: str) -> bytes:
    data = g.event.to_json_dict()
    data[name] = None
    return json.dumps(data).encode()


RARE = {"oversized": 10}
# A handler failure makes its whole batch go again one event at a time (up to 500 events, a
# minute on a loaded machine): these come last, among a few good events, in a wave of their own.
FAILING = ["handler_fails_nul", "handler_fails_nul", "handler_fails_long", "handler_fails_long"]
N_LAST_GOOD = 40
COMMON = [
    "not_json",
    "invalid_utf8",
    "empty_body",
    "null_value",
    "too_deep",
    "json_array",
    "json_string",
    "json_number",
    "json_null",
    "missing_field",
    "bad_enum",
    "bad_datetime",
    "wrong_type",
    "null_required",
    "unknown_major_v9",
    "unknown_major_v2",
    "missing_ce_id",
    "missing_ce_type",
    "missing_ce_source",
    "missing_ce_specversion",
    "empty_ce_id",
    "empty_ce_type",
    "no_headers",
    "bad_specversion",
    "bad_ce_time",
    "header_not_utf8",
]
REPEAT_OTHER_BODY = 400  # part of N_BAD: a good event's ce_id again, with another body


def ignored(i: int, g: Good) -> Message:
    """Types the certification service does not subscribe to: logged and skipped, never
    dead-lettered (even with a body that is not JSON)."""
    types = [
        "sikader.registry.CadreTeleported.v1",  # unknown type on the topic
        "sikader.registry.PosyanduRegistered.v1",  # a known type it does not subscribe to
        "sikader.incentives.SomethingElse.v3",
    ]
    h = {**g.headers, "ce_id": str(uuid.uuid4()), "ce_type": types[i % len(types)]}
    value = b"not json at all" if i % 2 else g.message.value
    return Message("ignored", g.message.key, value, _headers(h))


async def publish(bootstrap: str, messages: list[Message]) -> None:
    """acks=all; records the partition and offset the broker gave each message."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=1_048_576, linger_ms=5)
    await producer.start()
    try:
        futures = [
            await producer.send(TOPIC, value=msg.value, key=msg.key, headers=msg.headers) for msg in messages
        ]
        for msg, meta in zip(messages, await asyncio.gather(*futures), strict=True):
            msg.partition, msg.offset = meta.partition, meta.offset
    finally:
        await producer.stop()


async def consumed_to_end(bootstrap: str) -> bool:
    """The service's group has committed every partition of the topic to its end (read
    without joining the group: partitions assigned by hand, nothing committed)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=CONSUMER, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # Apache Kafka: the start's metadata may not list it yet
        parts = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or ()]
        consumer.assign(parts)
        ends = await consumer.end_offsets(parts)
        for tp, end in ends.items():
            committed = await consumer.committed(tp)
            if committed is None or committed < end:
                return False
        return bool(parts)
    finally:
        await consumer.stop()


async def test_malformed_events_go_to_the_dlq_and_good_ones_are_applied(broker, databases, run_service) -> None:
    rng = random.Random(20260901)
    settings = settings_for(CertificationSettings, broker, databases("certification"))
    svc = await run_service(definition(settings))

    goods = [good(i) for i in range(N_GOOD)]
    first, second, last = goods[: N_GOOD // 2], goods[N_GOOD // 2 : -N_LAST_GOOD], goods[-N_LAST_GOOD:]
    kinds = [k for k, n in RARE.items() for _ in range(n)]
    n_common = N_BAD - len(kinds) - REPEAT_OTHER_BODY - len(FAILING)
    kinds += [COMMON[i % len(COMMON)] for i in range(n_common)]
    bads = [bad(kind, good(-1)) for kind in kinds]
    rng.shuffle(bads)
    # Repeats of first-wave events go in the second wave, so their originals come first.
    repeated = rng.sample(first, N_REPEATS)
    repeats = [Message("repeat", g.message.key, g.message.value, g.message.headers) for g in repeated]
    others = []
    # Not the events repeated with their own body: that mix (A, then B and A in one batch) is
    # test_dead_letter_gaps.test_same_body_after_other_body_in_one_batch_is_skipped.
    for g in rng.sample([g for g in first if g not in repeated], REPEAT_OTHER_BODY):
        other = _body(g, name=g.event.name + " (lain)")
        others.append(Message("repeat_other_body", g.message.key, other, g.message.headers, ("repeated ce_id",)))
    wave1 = [g.message for g in first] + bads[: len(bads) // 2] + [ignored(i, good(-1)) for i in range(N_IGNORED)]
    wave2 = [g.message for g in second] + bads[len(bads) // 2 :] + repeats + others
    failing = [bad(kind, good(-1)) for kind in FAILING]
    wave3 = [g.message for g in last] + failing
    rng.shuffle(wave1)
    rng.shuffle(wave2)
    rng.shuffle(wave3)
    bad_messages = bads + others + failing
    assert len(bad_messages) == N_BAD

    not_ready: list[str] = []
    done = asyncio.Event()

    async def watch_readiness() -> None:
        async with httpx.AsyncClient(base_url=svc.url, timeout=10) as client:
            while not done.is_set():
                r = await client.get("/health/ready")
                if r.status_code != 200 or not r.json()["consumer"]["running"]:
                    not_ready.append(f"{r.status_code} {r.text[:200]}")
                await asyncio.sleep(0.2)

    async def count(model: Any, *where: Any) -> int:
        async with svc.runtime.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    timeout = float(os.environ.get("SIKADER_MALFORMED_TIMEOUT", "180"))

    async def settled(dead: int, cadres: int) -> None:
        deadline = time.monotonic() + timeout
        while not (
            await count(DlqRecord) >= dead
            and await count(CadreRow) >= cadres
            and await consumed_to_end(broker.bootstrap)
        ):
            assert time.monotonic() < deadline, (
                f"after {timeout} s: {await count(DlqRecord)}/{dead} dead letters, {await count(CadreRow)}/{cadres} "
                "cadres"
            )
            await asyncio.sleep(0.5)

    watcher = asyncio.create_task(watch_readiness())
    started = time.monotonic()
    await publish(broker.bootstrap, wave1)
    await publish(broker.bootstrap, wave2)
    published = time.monotonic() - started
    await settled(N_BAD - len(failing), N_GOOD - len(last))
    consumed = time.monotonic() - started
    await publish(broker.bootstrap, wave3)
    await settled(N_BAD, N_GOOD)
    failed_last = time.monotonic() - started - consumed
    done.set()
    await watcher

    # Every bad message on the DLQ exactly once, unchanged, with its reason and origin.
    dlq = await read_topic(broker.bootstrap, topics.dlq_topic("certification"))
    by_origin: dict[tuple[int, int], Any] = {}
    for record in dlq:
        h = {k: v.decode() for k, v in record.headers if k.startswith("dlq_")}
        assert h["dlq_topic"] == TOPIC and h["dlq_consumer"] == CONSUMER, h
        origin = (int(h["dlq_partition"]), int(h["dlq_offset"]))
        assert origin not in by_origin, f"dead-lettered twice: {origin}"
        by_origin[origin] = (record, h)
    expected = {(msg.partition, msg.offset): msg for msg in bad_messages}
    sent = {(msg.partition, msg.offset): msg for msg in wave1 + wave2 + wave3}
    extra = Counter(f"{sent[o].kind}: {by_origin[o][1]['dlq_error'][:80]}" for o in set(by_origin) - set(expected))
    assert set(by_origin) == set(expected), (
        f"missing from the DLQ: {Counter(expected[o].kind for o in set(expected) - set(by_origin))}; "
        f"dead-lettered but not bad: {extra}"
    )
    wrong = []
    for origin, msg in expected.items():
        record, h = by_origin[origin]
        error = h["dlq_error"]
        if not all(part in error for part in msg.reason) or h["dlq_attempts"] != str(msg.attempts):
            wrong.append(f"{msg.kind}: {error!r} after {h['dlq_attempts']} attempts")
        assert record.value == msg.value and record.key == msg.key, msg.kind
        assert [(k, v) for k, v in record.headers if not k.startswith("dlq_")] == msg.headers, msg.kind
    assert not wrong, f"{len(wrong)} dead letters with the wrong reason, e.g. {wrong[:5]}"

    # Every good event applied once, with its original body; nothing else reached the projection.
    async with svc.runtime.sessions() as session:
        rows = dict((await session.execute(select(CadreRow.cadre_id, CadreRow.name))).all())
    assert rows == {g.event.cadre_id: g.event.name for g in goods}
    assert await count(InboxRecord, InboxRecord.ce_type == CadreRegistered.ce_type()) == N_GOOD
    # Skips counted in a batch that then failed (a handler failure) count again on its retry.
    assert svc.runtime.consumer.skipped_total >= N_REPEATS

    # The stored DLQ log and the metric agree; the service never stopped being ready.
    assert await count(DlqRecord) == N_BAD
    async with httpx.AsyncClient(base_url=svc.url) as client:
        metrics = (await client.get("/metrics")).text
        ready = await client.get("/health/ready")
    [gauge] = [line for line in metrics.splitlines() if line.startswith("sikader_dlq_messages_total")]
    assert float(gauge.split()[-1]) == N_BAD
    assert ready.status_code == 200 and not not_ready, not_ready[:5]

    by_kind = Counter(m.kind for m in bad_messages)
    CASES["malformed events"] = N_BAD
    print(
        f"malformed: {N_BAD} bad ({len(by_kind)} kinds), {N_GOOD} good, {N_REPEATS} repeats, {N_IGNORED} ignored; "
        f"published in {published:.1f} s, consumed in {consumed:.1f} s; the wave with failing handlers "
        f"in {failed_last:.1f} s"
    )
