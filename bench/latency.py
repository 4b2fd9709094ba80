"""Latency: from an HTTP write at the registry to IncentiveEligibilityChanged seen by an
outside consumer.

Registry, certification and incentives run as separate processes on the broker and
PostgreSQL (each its own database). Setup, through their APIs and in bulk: Posyandu
imported from a CSV with their facility assessment and verified (five cadres each: the
default policy's cap); cadres imported from a CSV; each certified Purwa by an assessment at
the certification service; then every cadre announced eligible. Measured: at a steady rate,
one `POST /cadres/{id}/deactivation` per cadre (an eligible cadre becomes ineligible), and
the time until an outside aiokafka consumer sees that cadre's IncentiveEligibilityChanged
(eligible=false). The outside consumer also reads the registry's CadreDeactivated, which
splits each latency into the registry's part (HTTP + outbox relay) and the incentives part
(consume, apply, decide, outbox relay).

    python -m bench.latency                          # 1,000 writes at 25 per second
    python -m bench.latency --cadres 60 --rate 20    # smoke size
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.common import (
    FLOWERS,
    broker,
    csv_bytes,
    database,
    drop_database,
    machine,
    service_env,
    table,
    use_postgres,
)
from registry.adapters.wilayah_file import load_wilayah
from sikader_shared import topics
from sikader_shared.clock import WITA
from sikader_shared.kafka import ensure_topics
from sikader_shared.testing.broker import TestBroker
from sikader_shared.testing.services import SubprocessService, issue_key_with_cli

SERVICES = ("registry", "certification", "incentives")
CHANGED = "sikader.incentives.IncentiveEligibilityChanged.v1"
DEACTIVATED = "sikader.registry.CadreDeactivated.v1"
CAP = 5  # cadres per Posyandu: the default policy's cap, so that every certified cadre is eligible
ASSESSMENT = ["facility_status", "equipment", "assessed_by", "assessed_on"]


def setup_files(cadres: int, today: str) -> tuple[bytes, bytes]:
    """Posyandu (assessed, in public buildings) and `cadres` cadres, CAP per Posyandu."""
    kelurahan = load_wilayah("6471.json").all_kelurahan()
    places = []
    for i in range(math.ceil(cadres / CAP)):
        kel = kelurahan[i % len(kelurahan)]
        places.append((f"Posyandu {FLOWERS[i // len(kelurahan) % len(FLOWERS)]} {i}", kel))
    posyandu = csv_bytes(
        ["name", "kelurahan_code", "posyandu_type", "sk_number", "sk_date", *ASSESSMENT],
        [
            [
                name,
                kel.code,
                "balita",
                f"188.4/{i}/BENCH/2025",
                "2025-02-03",
                "public_building",
                "dacin",
                "Puskesmas",
                today,
            ]
            for i, (name, kel) in enumerate(places)
        ],
    )
    rows: list[list[object]] = []
    for i in range(cadres):
        name, kel = places[i // CAP]
        birth = date(1970, 1, 1) + timedelta(days=i // 9999)
        nik = f"{kel.kecamatan_code.replace('.', '')}{birth.day + 40:02d}{birth.month:02d}{birth.year % 100:02d}"
        rows.append([f"{nik}{i % 9999 + 1:04d}", f"Kader {i}", "P", birth.isoformat(), kel.code, name, "2015-03-01"])
    cadre_file = csv_bytes(["nik", "name", "sex", "birth_date", "kelurahan_code", "posyandu_name", "joined_on"], rows)
    return posyandu, cadre_file


def ok(r: httpx.Response) -> Any:
    if r.status_code not in (200, 201):
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}")
    return r.json()


class Watcher:
    """An outside consumer (no group, from the beginning) of the registry's cadre topic and
    the incentives topic: when each cadre's events were first seen."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.eligible: dict[str, bool] = {}
        self.deactivated_at: dict[str, float] = {}
        self.ineligible_at: dict[str, float] = {}
        self.deactivation_id: dict[str, str] = {}  # cadre -> ce_id of its CadreDeactivated
        self.wall_offset = time.time() - time.perf_counter()  # perf_counter -> the services' clock
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=5,
            max_partition_fetch_bytes=4 << 20,
        )
        await consumer.start()
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(t, p)
            for t in (topics.CADRE, topics.INCENTIVES)
            for p in consumer.partitions_for_topic(t) or []
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    headers = dict(r.headers)
                    ce_type = headers.get("ce_type", b"").decode()
                    key = (r.key or b"").decode()
                    if ce_type == DEACTIVATED:
                        self.deactivated_at.setdefault(key, now)
                        self.deactivation_id.setdefault(key, headers["ce_id"].decode())
                    elif ce_type == CHANGED:
                        eligible = bool(json.loads(r.value)["eligible"])
                        self.eligible[key] = eligible
                        if not eligible:
                            self.ineligible_at.setdefault(key, now)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()


async def wait_until(check: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s")
        await asyncio.sleep(0.2)


async def setup(svc: dict[str, SubprocessService], key: str, watcher: Watcher, n: int) -> list[str]:
    today = datetime.now(UTC).astimezone(WITA).date().isoformat()
    posyandu_csv, cadre_csv = setup_files(n, today)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=svc["registry"].url, headers=headers, timeout=300) as registry,
        httpx.AsyncClient(base_url=svc["certification"].url, headers=headers, timeout=60) as certification,
    ):
        report = ok(await registry.post("/posyandu/import", content=posyandu_csv, headers={"content-type": "text/csv"}))
        posyandu_ids = [r["posyandu_id"] for r in report["registered_ids"]]
        assert len(posyandu_ids) == math.ceil(n / CAP), report
        gate = asyncio.Semaphore(8)

        async def verify(pid: str) -> None:
            async with gate:
                ok(await registry.post(f"/posyandu/{pid}/verification", json={"decision": "VERIFIED", "note": "bench"}))

        await asyncio.gather(*(verify(p) for p in posyandu_ids))
        report = ok(await registry.post("/cadres/import", content=cadre_csv, headers={"content-type": "text/csv"}))
        cadre_ids = [r["cadre_id"] for r in report["registered_ids"]]
        assert len(cadre_ids) == n, {k: v for k, v in report.items() if k != "registered_ids"}
        results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]

        async def certify(cadre_id: str) -> None:
            body = {"cadre_id": cadre_id, "assessor": "Puskesmas", "assessed_on": today, "results": results}
            deadline = time.monotonic() + 300
            async with gate:
                while True:  # until certification has consumed the cadre's registration
                    r = await certification.post("/assessments", json=body)
                    if r.status_code == 201 or time.monotonic() > deadline:
                        ok(r)
                        return
                    await asyncio.sleep(0.5)

        await asyncio.gather(*(certify(c) for c in cadre_ids))
    await wait_until(lambda: all(watcher.eligible.get(c) for c in cadre_ids), f"{n} cadres eligible", 600)
    return cadre_ids


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


async def incentives_stages(url: str, watcher: Watcher, cadre_ids: list[str]) -> list[tuple[str, list[float]]]:
    """The incentives part split by the times its database recorded: when the batch holding
    the CadreDeactivated began (inbox applied_at), when the announcement was written (outbox
    created_at) and published (published_at). All on the machine's wall clock."""
    await asyncio.sleep(1.0)  # the relay marks rows published after the broker's acks
    conn = await asyncpg.connect(url)
    try:
        applied = {
            r["event_id"]: r["applied_at"].timestamp()
            for r in await conn.fetch("SELECT event_id, applied_at FROM inbox WHERE ce_type = $1", DEACTIVATED)
        }
        announced = {
            r["key"]: (r["created_at"].timestamp(), r["published_at"].timestamp())
            for r in await conn.fetch(
                "SELECT key, created_at, published_at FROM outbox"
                " WHERE ce_type = $1 AND payload LIKE $2 AND published_at IS NOT NULL",
                CHANGED,
                '%"eligible":false%',
            )
        }
    finally:
        await conn.close()
    off = watcher.wall_offset
    picked, decided, relayed, delivered = [], [], [], []
    for c in cadre_ids:
        event_id = watcher.deactivation_id.get(c)
        if event_id not in applied or c not in announced or c not in watcher.deactivated_at:
            continue
        created, published = announced[c]
        picked.append((applied[event_id] - (watcher.deactivated_at[c] + off)) * 1000)
        decided.append((created - applied[event_id]) * 1000)
        relayed.append((published - created) * 1000)
        delivered.append((watcher.ineligible_at[c] + off - published) * 1000)
    return [
        ("    CadreDeactivated seen -> its batch begins (consumer fetch)", picked),
        ("    batch begins -> announcement written (apply + decide)", decided),
        ("    written -> published (commit + outbox relay)", relayed),
        ("    published -> seen by the outside consumer", delivered),
    ]


async def measure(
    registry: SubprocessService, incentives_url: str, key: str, watcher: Watcher, cadre_ids: list[str], rate: float
) -> None:
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    failures: list[str] = []
    async with httpx.AsyncClient(
        base_url=registry.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as client:

        async def write(cadre_id: str) -> None:
            sent[cadre_id] = time.perf_counter()
            r = await client.post(f"/cadres/{cadre_id}/deactivation", json={"reason": "latency benchmark"})
            answered[cadre_id] = time.perf_counter()
            if r.status_code != 200:
                failures.append(f"{r.status_code}: {r.text[:200]}")

        start = time.perf_counter()
        tasks = []
        for i, cadre_id in enumerate(cadre_ids):  # a steady rate, whatever the response times
            await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(write(cadre_id)))
        elapsed = time.perf_counter() - start
        await asyncio.gather(*tasks)
    if failures:
        raise RuntimeError(f"{len(failures)} writes failed, e.g. {failures[0]}")
    await wait_until(lambda: all(c in watcher.ineligible_at for c in cadre_ids), "every change seen", 120)
    total = [(watcher.ineligible_at[c] - sent[c]) * 1000 for c in cadre_ids]
    http = [(answered[c] - sent[c]) * 1000 for c in cadre_ids]
    registry_part = [(watcher.deactivated_at[c] - sent[c]) * 1000 for c in cadre_ids if c in watcher.deactivated_at]
    incentives_part = [
        (watcher.ineligible_at[c] - watcher.deactivated_at[c]) * 1000 for c in cadre_ids if c in watcher.deactivated_at
    ]
    n = len(cadre_ids)
    print(f"{n:,} writes sent in {elapsed:.1f} s ({n / elapsed:.1f}/s); load average {os.getloadavg()[0]:.1f}\n")
    rows = []
    stages = await incentives_stages(incentives_url, watcher, cadre_ids)
    for label, values in [
        ("HTTP write -> IncentiveEligibilityChanged seen", total),
        ("  HTTP write -> response", http),
        ("  HTTP write -> CadreDeactivated seen (registry)", registry_part),
        ("  CadreDeactivated -> IncentiveEligibilityChanged (incentives)", incentives_part),
        *stages,
    ]:
        if not values:
            continue
        rows.append((label, *(f"{pct(values, q):.1f}" for q in (50, 95, 99)), f"{max(values):.1f}"))
    print(table(rows, ("latency (ms)", "p50", "p95", "p99", "max")))


async def main(b: TestBroker, n: int, rate: float) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="sikader-latency-"))
    urls = {s: database(s) for s in SERVICES}
    svc: dict[str, SubprocessService] = {}
    watcher = Watcher(b.bootstrap)
    try:
        print(f"machine: {machine()}")
        print(f"broker: {b.kind} at {b.bootstrap}; database: PostgreSQL; cadres: {n:,}; rate {rate:g}/s")
        await ensure_topics(b.bootstrap, topics.all_topic_names(), 6)
        envs = {s: service_env(s, b.bootstrap, urls[s], workdir) for s in SERVICES}
        settings = {k: v for k, v in envs["incentives"].items() if k.startswith("SIKADER_") and "KEY" not in k}
        print(
            "settings: "
            + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if "URL" not in k and "DIR" not in k)
        )
        for s in SERVICES:
            svc[s] = SubprocessService(s, envs[s], workdir / f"{s}.log")
        await asyncio.gather(*(asyncio.to_thread(s.migrate) for s in svc.values()))
        await asyncio.gather(*(s.start() for s in svc.values()))
        key = await asyncio.to_thread(issue_key_with_cli, "registry", envs["registry"], "bench", "admin")
        for s in svc.values():

            async def known(s: SubprocessService = s) -> bool:
                async with s.client(key) as c:
                    return (await c.get("/auth/whoami")).status_code == 200

            deadline = time.monotonic() + 60
            while not await known():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the key is not known to {s.service}")
                await asyncio.sleep(0.2)
        await watcher.start()
        started = time.perf_counter()
        cadre_ids = await setup(svc, key, watcher, n)
        print(f"setup: {n:,} certified cadres at {math.ceil(n / CAP):,} verified Posyandu, all eligible "
              f"({time.perf_counter() - started:.0f} s)\n")  # fmt: skip
        await measure(svc["registry"], urls["incentives"], key, watcher, cadre_ids, rate)
    finally:
        await watcher.stop()
        for s in svc.values():
            await s.stop()
        for url in urls.values():
            drop_database(url)
        b.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cadres", type=int, default=1000, help="writes measured (one per cadre)")
    parser.add_argument("--rate", type=float, default=25.0, help="writes per second")
    args = parser.parse_args()
    use_postgres()
    test_broker = broker()
    asyncio.run(main(test_broker, args.cadres, args.rate))
