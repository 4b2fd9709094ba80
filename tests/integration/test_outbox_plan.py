"""The outbox relay on PostgreSQL: its batch query stays an index range scan however many
published rows the outbox keeps (retention keeps them for ever by default), and replicas of a
service sharing a database publish each event once, in order."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from sikader_shared.clock import SystemClock
from sikader_shared.db import make_engine, session_factory
from sikader_shared.kafka import ensure_topics, producer_for
from sikader_shared.outbox import OUTBOX, OutboxRelay, lead_publishing, unpublished_batch
from sikader_shared.settings import ServiceSettings
from sikader_shared.testing.broker import TestBroker
from sikader_shared.testing.kafka import read_topic


def outbox_rows(topic: str, numbers: range, keys: int) -> list[dict[str, Any]]:
    """Outbox rows whose bodies carry their number n, keyed by n modulo `keys`."""
    return [
        {
            "event_id": str(uuid.uuid4()),
            "topic": topic,
            "key": f"aggregate-{n % keys}",
            "ce_type": "test",
            "headers": {"ce_id": str(n)},
            "payload": json.dumps({"n": n}),
            "created_at": datetime.now(UTC),
        }
        for n in numbers
    ]


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


async def test_relay_batch_is_an_index_range_scan(databases: Callable[[str], str]) -> None:
    url = databases("outbox_plan")
    if not url.startswith("postgresql"):
        pytest.skip("query plans are PostgreSQL's")
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(OUTBOX.create)
            # 150,000 published rows, then an import's worth of unpublished ones; statistics as
            # an import leaves them (taken while the table was empty, before autovacuum runs).
            await conn.execute(text("ANALYZE outbox"))
            await conn.execute(
                text(
                    "INSERT INTO outbox (event_id, topic, key, ce_type, headers, payload, created_at, published_at) "
                    "SELECT gen_random_uuid()::text, 't', 'k', 'x', '{}', repeat('x', 300), now(), "
                    "CASE WHEN g <= 150000 THEN now() END FROM generate_series(1, 200000) AS g"
                )
            )
        compiled = unpublished_batch(2000).compile(engine.sync_engine, compile_kwargs={"literal_binds": True})
        for analyzed in (False, True):
            if analyzed:
                async with engine.begin() as conn:
                    await conn.execute(text("ANALYZE outbox"))
            async with session_factory(engine)() as session:  # the relay's transaction
                assert await lead_publishing(session)
                raw = (await session.execute(text(f"EXPLAIN (FORMAT JSON) {compiled}"))).scalar_one()
                plan = (raw if isinstance(raw, list) else json.loads(raw))[0]["Plan"]
                kinds = [(n["Node Type"], n.get("Index Name")) for n in nodes(plan)]
                assert ("Index Scan", "ix_outbox_unpublished") in kinds, kinds
                assert not any(kind == "Sort" for kind, _ in kinds), kinds
                assert all("Filter" not in n for n in nodes(plan)), plan
                rows = (await session.execute(unpublished_batch(2000))).all()
                assert [r[0] for r in rows] == list(range(150001, 152001))
    finally:
        await engine.dispose()


async def test_two_replicas_relays_publish_each_event_once_in_order(
    databases: Callable[[str], str], broker: TestBroker
) -> None:
    """Two replicas of a service share one database: one relay publishes at a time (the
    advisory lock), so each event goes out once and a key's events stay in commit order."""
    url = databases("outbox_replicas")
    if not url.startswith("postgresql"):
        pytest.skip("the advisory lock is PostgreSQL's; SQLite has one writer")
    topic = "sikader.test.outbox-replicas"
    await ensure_topics(broker.bootstrap, [topic], partitions=3)
    engine = make_engine(url)
    settings = ServiceSettings(service_name="replicas", kafka_bootstrap_servers=broker.bootstrap)
    relays = [
        OutboxRelay(session_factory(engine), lambda: producer_for(settings), SystemClock(), batch_size=250)
        for _ in range(2)
    ]
    stop = asyncio.Event()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(OUTBOX.create)
        tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]
        count = 0
        for wave in range(8):  # rows keep arriving while both relays run
            async with engine.begin() as conn:
                await conn.execute(OUTBOX.insert(), outbox_rows(topic, range(count, count + 500), keys=7))
            count += 500
            for relay in relays:
                relay.signal.set()
            await asyncio.sleep(0.05 * wave)

        for _ in range(600):
            if await relays[0].backlog() == 0:
                break
            await asyncio.sleep(0.1)
        stop.set()
        for relay in relays:
            relay.signal.set()
        await asyncio.gather(*tasks)
        assert relays[0].published_total + relays[1].published_total == count

        records = await read_topic(broker.bootstrap, topic)
        numbers = [json.loads(r.value)["n"] for r in records]
        assert sorted(numbers) == list(range(count))  # each exactly once
        per_key: dict[bytes, list[int]] = {}
        for r in records:
            per_key.setdefault(r.key or b"", []).append(json.loads(r.value)["n"])
        assert all(ns == sorted(ns) for ns in per_key.values())
    finally:
        stop.set()
        await engine.dispose()


async def test_relay_yields_to_a_bulk_request_then_drains(databases: Callable[[str], str], broker: TestBroker) -> None:
    """While an import runs the relay publishes one batch per bulk_pause_s; when it ends, the
    rest goes out at once."""
    url = databases("outbox_bulk")
    topic = "sikader.test.outbox-bulk"
    await ensure_topics(broker.bootstrap, [topic], partitions=3)
    engine = make_engine(url)
    settings = ServiceSettings(service_name="bulk", kafka_bootstrap_servers=broker.bootstrap)
    relay = OutboxRelay(
        session_factory(engine), lambda: producer_for(settings), SystemClock(), batch_size=100, bulk_pause_s=1.0
    )
    stop = asyncio.Event()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(OUTBOX.create)
            await conn.execute(OUTBOX.insert(), outbox_rows(topic, range(1000), keys=5))
        with relay.yielding_to_bulk():
            task = asyncio.create_task(relay.run(stop))
            await asyncio.sleep(2.0)
            # a batch at 0 s, 1 s and 2 s at most, however fast the broker is
            during_bulk = relay.published_total
        assert 0 < during_bulk <= 300, during_bulk
        for _ in range(300):
            if relay.published_total == 1000:
                break
            await asyncio.sleep(0.1)
        assert relay.published_total == 1000
        assert await relay.backlog() == 0
        stop.set()
        relay.signal.set()
        await task
        numbers = [json.loads(r.value)["n"] for r in await read_topic(broker.bootstrap, topic)]
        assert sorted(numbers) == list(range(1000))
    finally:
        stop.set()
        await engine.dispose()
