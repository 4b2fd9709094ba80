"""Where the incentives service's input path spends its time: the real runtime (FastStream
batch consumer on the broker, inbox, projections, decisions, outbox relay) in this process,
on PostgreSQL, under cProfile. Prints CPU per event (this process, and the PostgreSQL
backends serving it: load-independent, unlike events/s on a shared machine), the time per
stage, and the functions that cost most.

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

# Stages: a function of ours and everything below it (cumulative time under cProfile).
STAGES = [
    ("FastStream + aiokafka: fetch, batch parse, commit", "faststream/_internal/subscriber/usecase.py", "consume"),
    ("decode: headers, envelope, JSON + pydantic, body hash", "sikader_shared/inbox.py", "decode"),
    ("inbox insert + repeats", "sikader_shared/uow.py", "bulk_insert"),
    ("incentives: apply events + decide (all)", "incentives/handlers.py", "apply_inputs"),
    ("  fold events into facts (domain)", "incentives/domain/facts.py", None),
    ("  decide cadres + announce", "incentives/handlers.py", "recompute_live"),
    ("unit of work commit (outbox, audit rows)", "sikader_shared/uow.py", "commit"),
    ("outbox relay", "sikader_shared/outbox.py", "publish_pending"),
]


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
        total = max(stats.total_tt, 1e-9)  # type: ignore[attr-defined]
        print(f"\nunder cProfile ({total:.1f} s of CPU in this thread; shares of it):")
        raw = stats.stats  # type: ignore[attr-defined]
        for label, path, func in STAGES:
            if func is None:
                t = sum(v[2] for (f, _, fn), v in raw.items() if f.endswith(path))  # own time in the module
            else:
                t = sum(v[3] for (f, _, fn), v in raw.items() if f.endswith(path) and fn == func)
            print(f"  {t / total:6.1%}  {label}")
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
