"""Where the incentives service's input path spends its time: the real runtime (FastStream
batch consumer on the broker, inbox, projections, decisions, outbox relay) in this process,
on PostgreSQL, under cProfile. Prints CPU per event (this process, and the PostgreSQL
backends serving it: load-independent, unlike events/s on a shared machine), the self time
by component (aiokafka, FastStream, pydantic, SQLAlchemy, asyncpg, our code) and the
functions that cost most.

    python -m bench.profile_input --events 20000
    python -m bench.profile_input --events 20000 --no-profile    # CPU figures without profiler overhead
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import time
from typing import Any

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import broker, database, drop_database, machine, use_postgres
from bench.throughput import committed, cpu_seconds, make_events, produce
from incentives.app import definition
from incentives.settings import IncentivesSettings
from sikader_shared import topics
from sikader_shared.crypto import derive_dev_key
from sikader_shared.kafka import ensure_topics
from sikader_shared.migrations import upgrade_head
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing.broker import TestBroker

# Self time (cProfile's tottime, reliable under asyncio) by where the code lives.
COMPONENTS = [
    ("waiting (epoll: the database, the broker, idle)", ("method 'poll' of 'select.epoll'",)),
    ("aiokafka: fetch, record unpacking, commits", ("aiokafka/",)),
    ("FastStream: subscriber loop, batch parser", ("faststream/",)),
    ("pydantic: JSON parse + validation", ("pydantic", "SchemaValidator")),
    ("asyncpg: statements, array encoding, results", ("asyncpg/", "_socket.socket")),
    ("SQLAlchemy + SQLModel", ("sqlalchemy/", "sqlmodel/", "greenlet")),
    ("sikader_shared: decode, inbox, unit of work, relay", ("sikader_shared/", "_hashlib", "of 'bytes' objects")),
    ("incentives domain: folding events into facts, rules", ("incentives/domain/",)),
    ("incentives handlers + store", ("incentives/handlers/", "incentives/adapters/")),
    ("asyncio event loop", ("asyncio/", "selectors.py")),
]


def components(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals = dict.fromkeys([c for c, _ in COMPONENTS] + ["other (builtins called from anywhere)"], 0.0)
    for (filename, _line, func), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{func}"
        for label, needles in COMPONENTS:
            if any(n in where for n in needles):
                totals[label] += tottime
                break
        else:
            totals["other (builtins called from anywhere)"] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


async def run(b: TestBroker, n: int, profile: bool, top: int) -> None:
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; events {n:,}\n")
    await ensure_topics(b.bootstrap, topics.all_topic_names(), 6)
    await produce(b.bootstrap, make_events(n))
    url = database("incentives")
    try:
        settings = IncentivesSettings(
            database_url=url,
            kafka_bootstrap_servers=b.bootstrap,
            payment_key=derive_dev_key("bench", "payment"),
            log_level="WARNING",
            consumer_group="bench-profile",
        )
        d = definition(settings)
        await asyncio.to_thread(upgrade_head, d.service_dir, url)
        runtime = ServiceRuntime(d)
        sizes: list[int] = []
        process = runtime.consumer.process

        async def counted(records: Any) -> Any:
            sizes.append(len(records))
            return await process(records)

        runtime.consumer.process = counted  # type: ignore[method-assign]
        pg = await asyncpg.connect(url)
        admin = AIOKafkaAdminClient(bootstrap_servers=b.bootstrap)
        await admin.start()
        profiler = cProfile.Profile()
        await runtime.start()
        started = time.perf_counter()
        c0, backends, g0 = time.process_time(), {}, 0.0
        if profile:
            profiler.enable()
        done = 0
        while done < n:
            await asyncio.sleep(0.05)
            for (pid,) in await pg.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ):
                backends.setdefault(pid, cpu_seconds(pid))  # CPU before we first saw it (connect, warm-up)
            done = await committed(admin, "bench-profile")
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"{done}/{n} after 10 min")
        profiler.disable()
        seconds = time.perf_counter() - started
        c1 = time.process_time()
        g1 = sum(cpu_seconds(pid) - before for pid, before in backends.items())
        await runtime.stop()
        await pg.close()
        await admin.close()
        print(f"{n:,} events applied and committed in {seconds:.1f} s ({n / seconds:,.0f} events/s)")
        print(f"batches: {len(sizes)}, {sum(sizes) / max(len(sizes), 1):.0f} events on average")
        print(f"CPU per event: service process {(c1 - c0) / n * 1e6:.0f} us, PostgreSQL {(g1 - g0) / n * 1e6:.0f} us")
        if not profile:
            return
        stats = pstats.Stats(profiler)
        parts = components(stats)
        busy = sum(t for label, t in parts if not label.startswith("waiting"))
        print("\nunder cProfile (it roughly doubles the time): self time by component, shares of the busy time:")
        for label, t in parts:
            share = "" if label.startswith("waiting") else f"{t / busy:6.1%}"
            print(f"  {share:>6}  {t / n * 1e6:6.1f} us/event  {label}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
        print("\n" + "\n".join(out.getvalue().splitlines()[6:]))
    finally:
        drop_database(url)
        b.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--no-profile", action="store_true", help="CPU figures only (no profiler overhead)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    use_postgres()
    test_broker = broker()
    asyncio.run(run(test_broker, args.events, not args.no_profile, args.top))
