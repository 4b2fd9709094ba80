"""Throughput and memory: input events through the incentives service into PostgreSQL.

Compares, on the same topics and broker, in one run, on Apache Kafka and then on Tansu (the
input-throughput rows of both printed side by side at the end; --brokers picks):
  - the ceiling: a raw aiokafka consume loop (getmany, no work);
  - a naive durable consumer: per event, one DB transaction and one offset commit;
  - the incentives service (per batch, one transaction: inbox, projections, decisions), one
    instance, then two; progress read from the group's committed offsets.
Also the resident memory of each service idle, and of incentives under this load.

    python bench/throughput.py                 # 100,000 events (CadreCertified + PosyanduFacilityVerified)
    python bench/throughput.py --events 2000   # smoke size
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import (
    Timer,
    broker,
    cpu_seconds,
    database,
    drop_database,
    machine,
    rss_mib,
    service_env,
    table,
    use_postgres,
)
from sikader_shared import topics
from sikader_shared.envelope import encode_headers, new_envelope
from sikader_shared.events import PosyanduFacilityVerified
from sikader_shared.events.base import Event
from sikader_shared.kafka import ensure_topics
from sikader_shared.testing.broker import TestBroker, start_apache_kafka, start_tansu
from sikader_shared.testing.samples import cadre_certified
from sikader_shared.testing.services import SubprocessService

POSYANDU = 5000  # distinct Posyandu in the events


def posyandu_id(i: int) -> str:
    return str(uuid.UUID(int=2 * 10**9 + i % POSYANDU))


def make_events(n: int) -> list[Event]:
    """Half certificates, half Posyandu verifications, deterministic."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    out: list[Event] = []
    for i in range(n):
        kel = f"64.71.0{i % 6 + 1}.10{i % 7 + 1:02d}"
        if i % 2 == 0:
            out.append(cadre_certified(i))
        else:
            out.append(
                PosyanduFacilityVerified(
                    posyandu_id=posyandu_id(i),
                    kelurahan_code=kel,
                    kecamatan_code=kel[:8],
                    name=f"Posyandu {i % POSYANDU}",
                    verified_by="dinkes",
                    verified_at=now + timedelta(seconds=i),
                )
            )
    return out


async def produce(bootstrap: str, events: list[Event]) -> float:
    # Batched as the services' outbox relays batch (sikader_shared.kafka.producer_for: 2 ms
    # linger, 16 KiB batches): the consumer decodes a whole record batch at a time, so larger
    # producer batches would inflate its memory beyond what it sees in production.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, max_batch_size=16 * 1024)
    await producer.start()
    try:
        with Timer() as t:
            pending = []
            for ev in events:
                env = new_envelope(
                    service=ev.service,
                    ce_type=ev.ce_type(),
                    subject=ev.aggregate_id(),
                    time=datetime.now(UTC),
                    actor="bench",
                )
                pending.append(
                    await producer.send(
                        ev.topic,
                        value=json.dumps(ev.to_json_dict()).encode(),
                        key=ev.aggregate_id().encode(),
                        headers=encode_headers(env.headers()),
                    )
                )
                if len(pending) >= 5000:
                    await asyncio.gather(*pending)
                    pending = []
            await asyncio.gather(*pending)
        return len(events) / t.seconds
    finally:
        await producer.stop()


TOPICS = [topics.CERTIFICATION, topics.POSYANDU]


async def raw_ceiling(bootstrap: str, n: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in TOPICS for p in sorted(consumer.partitions_for_topic(t) or [])]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        with Timer() as t:
            while seen < n:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                seen += sum(len(v) for v in batch.values())
        return n / t.seconds
    finally:
        await consumer.stop()


async def naive(bootstrap: str, dsn: str, n: int) -> float:
    """One DB transaction and one offset commit per event (what a default subscriber does)."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE IF NOT EXISTS naive_inbox (event_id text PRIMARY KEY, body jsonb)")
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=bootstrap,
        group_id=f"bench-naive-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=10,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        done = 0
        first = await consumer.getone()
        with Timer() as t:
            msg = first
            while True:
                data = json.loads(msg.value)
                headers = dict(msg.headers)
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO naive_inbox VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        headers["ce_id"].decode(),
                        json.dumps(data),
                    )
                await consumer.commit()
                done += 1
                if done >= n:
                    break
                msg = await consumer.getone()
        return done / t.seconds
    finally:
        await consumer.stop()
        await conn.close()


async def count_applied(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM inbox WHERE ce_type <> 'sikader.auth.ApiKeyIssued.v1'"))
    finally:
        await conn.close()


async def committed(admin: AIOKafkaAdminClient, group: str, partitions: int = 6) -> int:
    """Input events the group has committed: offsets are committed only after the database
    commit of their batch, so this is what went through into PostgreSQL. (The local broker
    needs the partitions named.)"""
    tps = [TopicPartition(t, p) for t in TOPICS for p in range(partitions)]
    offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    return sum(max(meta.offset, 0) for meta in offsets.values())


async def postgres_backends(conn: asyncpg.Connection) -> list[int]:
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    )
    return [int(r["pid"]) for r in rows]


@dataclass
class Run:
    rate: float  # events/s, steady part (about 5% to 95% committed)
    peak_rss: float  # MiB, per process
    service_cpu_us: float  # per event in the steady part, the incentives process(es)
    postgres_cpu_us: float  # per event in the steady part, the PostgreSQL backends serving them
    announced: int  # IncentiveEligibilityChanged written


async def seed_cadres(dsn: str, n: int) -> None:
    """The cadres of the events' certificates, known to incentives (bulk rows in its cadre
    projection, as registered cadres would leave them): 10 at each Posyandu (the default
    policy's cap is 5), so every event re-decides the 10 cadres of a Posyandu."""
    at = datetime(2026, 1, 10, tzinfo=UTC)
    rows = []
    for i in range(0, n, 2):
        kel, cadre = f"64.71.0{i % 6 + 1}.10{i % 7 + 1:02d}", str(uuid.UUID(int=i))
        place, registered, joined = posyandu_id(i // 2), date(2026, 1, 10), date(2015, 3, 1)
        status = ("active", registered, joined, None, None, "seed", at, "seed", at)
        rows.append((cadre, f"Kader {i}", kel, kel[:8], place, *status))
    conn = await asyncpg.connect(dsn)
    try:
        await conn.copy_records_to_table("cadres", records=rows, columns=SEED_COLUMNS)
        await conn.execute("ANALYZE cadres")
    finally:
        await conn.close()


SEED_COLUMNS = [
    "cadre_id", "name", "kelurahan_code", "kecamatan_code", "posyandu_id", "status", "registered_on", "joined_on",
    "deactivated_on", "reactivated_on", "status_event_id", "status_at", "assignment_event_id", "assignment_at",
]  # fmt: skip


async def incentives_run(
    bootstrap: str, n: int, instances: int, workdir: Path, group: str, known_cadres: bool = False
) -> Run:
    """Events already on the topics: start `instances` incentives processes at once on one
    fresh database (with the cadres known, if asked) and follow the group's committed offsets."""
    url = database("incentives")
    env = service_env("incentives", bootstrap, url, workdir, SIKADER_INCENTIVES_CONSUMER_GROUP=group)
    services: list[SubprocessService] = []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    conn: asyncpg.Connection | None = None
    try:
        await asyncio.to_thread(SubprocessService("incentives", env, workdir / "migrate.log").migrate)
        if known_cadres:
            await seed_cadres(url, n)
        conn = await asyncpg.connect(url)
        logs = [workdir / f"incentives-{group}-{i}.log" for i in range(instances)]
        services = [SubprocessService("incentives", env, log) for log in logs]
        starting = [asyncio.create_task(s.start()) for s in services]
        # The steady part: from the last sample below 5% committed to the first at or above
        # 95% (a small run may commit everything in one batch: then it is that batch).
        start = (time.perf_counter(), 0, {s.proc.pid: cpu_seconds(s.proc.pid) for s in services if s.proc})
        end: tuple[float, int, dict[int, float]] | None = None
        peak = 0.0
        deadline = time.perf_counter() + 1800
        while True:
            done = await committed(admin, group)
            now = time.perf_counter()
            pids = [s.proc.pid for s in services if s.proc]
            if done < 0.05 * n:
                pids += await postgres_backends(conn)
                start = (now, done, {pid: cpu_seconds(pid) for pid in pids})
            elif end is None and done >= 0.95 * n:
                end = (now, done, {pid: cpu_seconds(pid) for pid in start[2]})
            peak = max([peak, *(rss_mib(pid) for pid in pids[: len(services)])])
            if done >= n:
                break
            if now > deadline:
                raise TimeoutError(f"only {done}/{n} committed")
            await asyncio.sleep(0.05)
        assert end is not None
        spent = {pid: end[2][pid] - start[2][pid] for pid in start[2]}
        events = end[1] - start[1]
        own = {s.proc.pid for s in services if s.proc}
        await asyncio.gather(*starting)
        applied = await count_applied(url)
        if applied != n:
            raise AssertionError(f"{applied} events in the inbox, {n} expected")
        announced = int(await conn.fetchval("SELECT count(*) FROM outbox"))
        return Run(
            events / (end[0] - start[0]),
            peak,
            sum(v for k, v in spent.items() if k in own) / events * 1e6,
            sum(v for k, v in spent.items() if k not in own) / events * 1e6,
            announced,
        )
    finally:
        if conn is not None:
            await conn.close()
        await admin.close()
        for svc in services:
            await svc.stop()
        drop_database(url)


async def idle_memory(bootstrap: str, workdir: Path) -> dict[str, float]:
    out: dict[str, float] = {}
    for service in ("registry", "certification", "incentives", "notifications"):
        url = database(service)
        svc = SubprocessService(service, service_env(service, bootstrap, url, workdir), workdir / f"{service}.log")
        await asyncio.to_thread(svc.migrate)
        await svc.start()
        await asyncio.sleep(2.0)
        assert svc.proc is not None
        out[service] = rss_mib(svc.proc.pid)
        await svc.stop()
        drop_database(url)
    return out


async def main(b: TestBroker, n: int, naive_n: int, decided: bool) -> dict[str, float]:
    """One broker's runs; returns the input-throughput rows (events/s)."""
    workdir = Path(tempfile.mkdtemp(prefix="sikader-bench-"))
    try:
        print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
        print(f"broker: {b.kind} at {b.bootstrap}; database: PostgreSQL; events: {n:,}\n")
        await ensure_topics(b.bootstrap, topics.all_topic_names(), 6)
        idle = await idle_memory(b.bootstrap, workdir)
        events = make_events(n)
        produce_rate = await produce(b.bootstrap, events)
        ceiling = await raw_ceiling(b.bootstrap, n)
        naive_db = database("naive")
        try:
            naive_rate = await naive(b.bootstrap, naive_db, min(naive_n, n))
        finally:
            drop_database(naive_db)
        runs = {
            "1 instance": await incentives_run(b.bootstrap, n, 1, workdir, "bench-one"),
            "2 instances": await incentives_run(b.bootstrap, n, 2, workdir, "bench-two"),
        }
        if decided:
            runs["1 instance, cadres known"] = await incentives_run(b.bootstrap, n, 1, workdir, "bench-k1", True)
            runs["2 instances, cadres known"] = await incentives_run(b.bootstrap, n, 2, workdir, "bench-k2", True)
        run1, run2 = runs["1 instance"], runs["2 instances"]
        one, two = run1.rate, run2.rate
        rows = [
            ("producer (aiokafka, acks=all, batched)", f"{produce_rate:,.0f}", f"{produce_rate / ceiling:.2f}"),
            ("raw aiokafka getmany, no work (ceiling)", f"{ceiling:,.0f}", "1.00"),
            (
                f"naive: 1 tx + 1 commit per event ({min(naive_n, n):,})",
                f"{naive_rate:,.0f}",
                f"{naive_rate / ceiling:.3f}",
            ),
        ]
        rows += [
            (f"incentives service, {label} (steady 5%-95%)", f"{r.rate:,.0f}", f"{r.rate / ceiling:.3f}")
            for label, r in runs.items()
        ]
        print(table(rows, ("path", "events/s", "x ceiling")))
        if n < 20_000:
            print("(a smoke size: one or two batches are no steady state; these figures show the runs work)")
        print(f"\nincentives 1 instance vs naive: {one / naive_rate:.1f}x; 2 instances vs 1: {two / one:.2f}x")
        cpu = [
            (label, f"{r.service_cpu_us:.0f}", f"{r.postgres_cpu_us:.0f}", f"{r.announced:,}")
            for label, r in runs.items()
        ]
        print(f"\nload average now {os.getloadavg()[0]:.1f}")
        print(table(cpu, ("incentives", "CPU us/event: service", "PostgreSQL", "eligibility changes announced")))
        print()
        mem = [(s, f"{v:.0f}") for s, v in idle.items()]
        mem += [("incentives under load (peak, 1 instance)", f"{run1.peak_rss:.0f}"),
                ("incentives under load (peak, each of 2)", f"{run2.peak_rss:.0f}")]  # fmt: skip
        print(table(mem, ("service (resident memory)", "MiB")))
        return {
            "producer (aiokafka, acks=all, batched)": produce_rate,
            "raw aiokafka getmany, no work (ceiling)": ceiling,
            "naive: 1 tx + 1 commit per event": naive_rate,
            **{f"incentives service, {label}": r.rate for label, r in runs.items()},
        }
    finally:
        b.close()


def start(kind: str) -> TestBroker:
    """Apache Kafka as deployed (no fast-start JVM flags), or Tansu; each service the run starts
    gets the producer idempotence the broker supports."""
    if kind == "tansu":
        return start_tansu()  # sets SIKADER_PRODUCER_IDEMPOTENCE=false for what it starts
    os.environ["SIKADER_PRODUCER_IDEMPOTENCE"] = "true"
    return start_apache_kafka(fast_start=False)


def compare(results: dict[str, dict[str, float]]) -> None:
    kinds = list(results)
    rows = []
    for label in results[kinds[0]]:
        values = [results[k].get(label, float("nan")) for k in kinds]
        ratio = f"{values[0] / values[1]:.2f}" if len(values) == 2 and values[1] else ""
        rows.append((label, *(f"{v:,.0f}" for v in values), *([ratio] if len(kinds) == 2 else [])))
    header = ("input throughput (events/s)", *kinds, *(["ratio"] if len(kinds) == 2 else []))
    print("\n== the same runs on each broker, in one run (ratio = first / second)")
    print(table(rows, header))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--naive-events", type=int, default=5_000, help="the naive consumer is slow: sample size")
    parser.add_argument(
        "--cadres-known",
        action="store_true",
        help="also runs with the certificates' cadres known (10 per Posyandu): every event re-decides a Posyandu",
    )
    parser.add_argument(
        "--brokers", default="apache-kafka,tansu", help="comma-separated: apache-kafka, tansu, default (the harness's)"
    )
    args = parser.parse_args()
    use_postgres()
    results: dict[str, dict[str, float]] = {}
    for kind in args.brokers.split(","):
        print(f"\n==== broker: {kind}")
        # started outside the event loop (it waits with asyncio.run)
        test_broker = broker() if kind == "default" else start(kind)
        results[kind] = asyncio.run(main(test_broker, args.events, args.naive_events, args.cadres_known))
    if len(results) > 1:
        compare(results)
