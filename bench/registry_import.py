"""Benchmark: import cadres from CSV through the registry's HTTP API (target: 100,000 rows
in under 30 s).

A registry service runs in this process (uvicorn, the real runtime with its outbox relay and
consumer) on PostgreSQL or SQLite, with a real broker. The benchmark registers 340 Posyandu
(10 per kelurahan) with the Posyandu import, generates the cadre rows deterministically
(valid NIKs; phone, address and payment details for most rows, so every row costs its
encrypted private events too) and uploads them with the import CLI's chunked upload. It
prints rows/s for the upload, and then how long the relay took to publish the outbox.

    python bench/registry_import.py --rows 100000 \
        --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/registry_import.py --rows 1000                 # SQLite in a temp dir

The broker: KAFKA_BOOTSTRAP_SERVERS if set, else the test harness starts one. With a
PostgreSQL URL a fresh database is created next to the given one and dropped at the end."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared"), str(ROOT / "services" / "registry")]

from bench.common import FLOWERS, csv_bytes  # noqa: E402
from registry.adapters.wilayah_file import load_wilayah  # noqa: E402
from registry.app import definition  # noqa: E402
from registry.entrypoints.import_cli import progress_bar, upload  # noqa: E402
from registry.settings import RegistrySettings  # noqa: E402
from sikader_shared.auth import issue_key  # noqa: E402
from sikader_shared.crypto import new_key  # noqa: E402
from sikader_shared.testing.broker import start_test_broker  # noqa: E402
from sikader_shared.testing.database import drop_database, service_database_url  # noqa: E402
from sikader_shared.testing.services import InProcessService  # noqa: E402
from sikader_shared.uow import Actor  # noqa: E402

NAMES = ["Siti", "Nur", "Sri", "Dewi", "Rina", "Fitri", "Rahma", "Yuli", "Hasanah", "Aminah", "Wulan", "Ratna"]


def posyandu_file() -> bytes:
    rows: list[list[object]] = []
    for kel in load_wilayah("6471.json").all_kelurahan():
        rows.extend([f"Posyandu {f}", kel.code, "balita"] for f in FLOWERS)
    return csv_bytes(["name", "kelurahan_code", "posyandu_type"], rows)


def cadre_file(count: int, seed: int = 6471) -> bytes:
    """`count` valid, distinct cadres: NIK serials 0001-9999 per birth date."""
    rng = random.Random(seed)
    kelurahan = load_wilayah("6471.json").all_kelurahan()
    rows: list[list[object]] = []
    for i in range(count):
        birth = date(1960, 1, 1) + timedelta(days=i // 9999)
        female = rng.random() < 0.9
        kel = kelurahan[i % len(kelurahan)]
        day = birth.day + (40 if female else 0)
        nik = f"{kel.kecamatan_code.replace('.', '')}{day:02d}{birth.month:02d}{birth.year % 100:02d}{i % 9999 + 1:04d}"
        method = rng.choices(["bank", "e_wallet", ""], [6, 2, 2])[0]
        phone = f"0812{rng.randint(10_000_000, 99_999_999)}"
        rows.append(
            [
                nik,
                f"{rng.choice(NAMES)} {rng.choice(NAMES)}",
                "P" if female else "L",
                birth.isoformat(),
                phone,
                f"Jl. Mulawarman RT {rng.randint(1, 60):03d}",
                "posyandu_cadre",
                kel.code,
                FLOWERS[i % len(FLOWERS)],
                method,
                ("BPD_KALTIMTARA" if method == "bank" else "DANA") if method else "",
                (str(rng.randint(10**9, 10**10 - 1)) if method == "bank" else phone) if method else "",
            ]
        )
    header = ["nik", "name", "sex", "birth_date", "phone", "address", "roles", "kelurahan_code", "posyandu_name",
              "payment_method", "bank", "account_number"]  # fmt: skip
    return csv_bytes(header, rows)


async def run(args: argparse.Namespace) -> None:
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = await asyncio.to_thread(start_test_broker, False)
        bootstrap = broker.bootstrap
    if args.database_url:
        os.environ["TEST_DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("TEST_DATABASE_URL", None)
    url = service_database_url("registry_bench")
    settings = RegistrySettings(
        database_url=url,
        kafka_bootstrap_servers=bootstrap,
        contact_key=new_key(),
        payment_key=new_key(),
        log_level="WARNING",
    )
    service = InProcessService(definition(settings))
    try:
        await service.start()
        async with service.runtime.uow(actor=Actor("bench", scopes=frozenset({"admin"}))) as uow:
            _, key = await issue_key(uow, "bench", ["registry:write", "registry:read"])
            await uow.commit()
        raw = cadre_file(args.rows)
        print(f"database: {url.split('@')[-1]}  rows: {args.rows}  file: {len(raw) / 1e6:.1f} MB", file=sys.stderr)
        async with service.client(key) as client:
            report = await upload(client, "posyandu", posyandu_file(), chunk_rows=1000)
            assert report["registered"] + report["already_registered"] == 340, report["errors"][:3]
            bar = progress_bar(sys.stderr, args.rows)
            started, cpu_started = time.perf_counter(), time.process_time()
            report = await upload(client, "cadres", raw, chunk_rows=args.chunk_rows, on_progress=bar)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        if report["rejected"]:
            raise SystemExit(f"rows rejected: {report['errors'][:5]}")
        print(
            f"imported {report['registered']} cadres in {elapsed:.1f} s: {report['registered'] / elapsed:,.0f} rows/s "
            f"(target: 100,000 in under 30 s)"
        )
        # CPU seconds of this process (service, its relay and the client) while uploading: a
        # figure that the load of other processes on the machine barely changes.
        print(f"process CPU during the upload: {cpu:.1f} s ({cpu / report['registered'] * 1e6:.0f} us per row)")
        total = await service.runtime.relay.backlog()
        print(f"outbox backlog when the upload ended: {total:,} events")
        started, cpu_started = time.perf_counter(), time.process_time()
        while (backlog := await service.runtime.relay.backlog()) > 0 and time.perf_counter() - started < 600:
            await asyncio.sleep(0.5)
        drained, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        print(
            f"outbox published {'' if backlog == 0 else 'NOT '}within {drained:.1f} s more "
            f"(process CPU meanwhile: {cpu:.1f} s, {cpu / max(total, 1) * 1e6:.0f} us per event)"
        )
    finally:
        await service.stop()
        drop_database(url)
        if broker is not None:
            await asyncio.to_thread(broker.close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="rows per HTTP request (one transaction each)")
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL; default SQLite in a temp dir")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
