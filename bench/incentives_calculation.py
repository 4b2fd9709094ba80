"""Benchmark: calculate one incentive period for many cadres (target: 1,000,000 cadres in
under 60 s on PostgreSQL).

The facts are produced as bulk rows (COPY on PostgreSQL, executemany on SQLite) straight into
the incentives projections, exactly as the projector would leave them; then the period is
calculated through the service's own handler (set-based SQL, decision-set hash, totals,
outbox event) in one transaction, and calculated again to show the same inputs give the
same hash.

    python bench/incentives_calculation.py --cadres 1000000 \
        --database-url postgresql://postgres@127.0.0.1:5432/test
    python bench/incentives_calculation.py --cadres 1000          # SQLite in a temp dir

With a PostgreSQL URL a fresh database is created next to the given one and dropped at the
end (unless --keep)."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "shared"), str(ROOT / "services" / "incentives")]

import asyncpg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from incentives.app import SERVICE_DIR  # noqa: E402
from incentives.handlers import periods  # noqa: E402
from sikader_shared.clock import FixedClock  # noqa: E402
from sikader_shared.db import make_engine, session_factory  # noqa: E402
from sikader_shared.migrations import upgrade_head  # noqa: E402
from sikader_shared.uow import Actor, UnitOfWork  # noqa: E402

KELURAHAN = [f"64.71.0{k}.100{i}" for k in range(1, 7) for i in range(1, 7)][:34]
PERIOD = "2026-11"
NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
LEVELS = (("Purwa", 1), ("Madya", 2), ("Utama", 3))


def generate(cadres: int, seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Posyandu (one per 10 cadres), cadres, certificates (about 0.8 per cadre), seeded."""
    rng = random.Random(seed)
    base = date(2026, 11, 15)
    at = datetime(2026, 11, 1, tzinfo=UTC)

    def uid() -> str:
        h = f"{rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def day(spread: int) -> date:
        return base + timedelta(days=rng.randint(-spread, spread))

    def before(most: int) -> date:
        return base - timedelta(days=rng.randint(20, most))

    def after(most: int) -> date:
        return base + timedelta(days=rng.randint(-30, most))

    posyandu = []
    for i in range(max(1, cadres // 10)):
        kel = KELURAHAN[i % len(KELURAHAN)]
        r = rng.random()
        status = "active" if r < 0.97 else "closed"
        verification = "VERIFIED" if rng.random() < 0.8 else rng.choice(["PENDING", "REJECTED"])
        posyandu.append(
            (
                uid(),
                f"Posyandu {i}",
                kel,
                kel[:8],
                status,
                day(60) if status != "active" else None,
                verification,
                before(300),
                uid(),
                at,
                uid(),
                at,
            )
        )
    cadre_rows, cert_rows = [], []
    for i in range(cadres):
        p = posyandu[i % len(posyandu)]
        status = "active" if rng.random() < 0.93 else "inactive"
        deactivated = day(60) if status == "inactive" else None
        cid = uid()
        cadre_rows.append(
            (
                cid,
                f"Kader {i}",
                p[2],
                p[3],
                p[0],
                status,
                before(900),
                before(3000),
                deactivated,
                None,
                uid(),
                at,
                uid(),
                at,
            )
        )
        if rng.random() < 0.8:
            level, rank = LEVELS[rng.choices([0, 1, 2], [6, 3, 1])[0]]
            cstatus = "valid" if rng.random() < 0.9 else rng.choice(["revoked", "suspended", "expired"])
            cert_rows.append(
                (
                    uid(),
                    cid,
                    f"KDR-{i:08d}",
                    level,
                    rank,
                    cstatus,
                    after(700),
                    day(30) if cstatus != "valid" else None,
                    before(400),
                    before(400),
                    uid(),
                    at,
                )
            )
    return posyandu, cadre_rows, cert_rows


POSYANDU_COLS = [
    "posyandu_id",
    "name",
    "kelurahan_code",
    "kecamatan_code",
    "status",
    "closed_on",
    "verification_status",
    "verification_on",
    "verification_event_id",
    "verification_at",
    "status_event_id",
    "status_at",
]
CADRE_COLS = [
    "cadre_id",
    "name",
    "kelurahan_code",
    "kecamatan_code",
    "posyandu_id",
    "status",
    "registered_on",
    "joined_on",
    "deactivated_on",
    "reactivated_on",
    "status_event_id",
    "status_at",
    "assignment_event_id",
    "assignment_at",
]
CERT_COLS = [
    "certificate_id",
    "cadre_id",
    "certificate_number",
    "level",
    "level_rank",
    "status",
    "expires_on",
    "status_on",
    "valid_from",
    "issued_on",
    "event_id",
    "event_at",
]


async def load_rows(url: str, data: tuple[list[tuple[Any, ...]], ...]) -> None:
    tables = list(
        zip(("posyandu", "cadres", "certificates"), (POSYANDU_COLS, CADRE_COLS, CERT_COLS), data, strict=True)
    )
    if make_url(url).drivername.startswith("postgres"):
        conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            for table, cols, rows in tables:
                await conn.copy_records_to_table(table, records=rows, columns=cols)
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        return
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for table, cols, rows in tables:
                sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
                await conn.execute(text(sql), [dict(zip(cols, r, strict=True)) for r in rows])
    finally:
        await engine.dispose()


async def calculate(url: str) -> tuple[float, dict[str, Any]]:
    engine = make_engine(url)
    sessions = session_factory(engine)
    try:
        uow = UnitOfWork(
            sessions,
            service="incentives",
            clock=FixedClock(NOW),
            outbox_signal=None,
            actor=Actor("bench-dinkes", key_id="bench-key", scopes=frozenset({"incentives:calculate"})),
        )
        started = time.perf_counter()
        async with uow:
            row = await periods.calculate(uow, PERIOD)
            out = periods.period_public(row)
            await uow.commit()
        return time.perf_counter() - started, out
    finally:
        await engine.dispose()


def fresh_database(base: str) -> str:
    name = f"bench_incentives_{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        conn = await asyncpg.connect(make_url(base).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return make_url(base).set(drivername="postgresql", database=name).render_as_string(hide_password=False)


def drop_database(base: str, url: str) -> None:
    async def drop() -> None:
        conn = await asyncpg.connect(make_url(base).set(drivername="postgresql").render_as_string(hide_password=False))
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
        finally:
            await conn.close()

    asyncio.run(drop())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cadres", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", ""),
        help="postgresql://... (a fresh database is created beside it) or empty for SQLite",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument("--target-seconds", type=float, default=60.0)
    args = parser.parse_args()

    postgres = args.database_url.startswith("postgres")
    url = fresh_database(args.database_url) if postgres else f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    try:
        upgrade_head(SERVICE_DIR, url)
        t0 = time.perf_counter()
        data = generate(args.cadres, args.seed)
        t1 = time.perf_counter()
        asyncio.run(load_rows(url, data))
        t2 = time.perf_counter()
        first_s, first = asyncio.run(calculate(url))
        again_s, again = asyncio.run(calculate(url))
        same = first["decision_hash"] == again["decision_hash"]
        print(f"database             {'PostgreSQL' if postgres else 'SQLite'}")
        print(f"cadres               {args.cadres:,} ({len(data[0]):,} Posyandu, {len(data[2]):,} certificates)")
        print(f"generate rows        {t1 - t0:8.2f} s")
        print(f"bulk load            {t2 - t1:8.2f} s")
        print(f"calculate            {first_s:8.2f} s  ({args.cadres / first_s:,.0f} cadres/s)")
        print(f"recalculate          {again_s:8.2f} s")
        print(f"evaluated / eligible {first['cadres_evaluated']:,} / {first['eligible_cadres']:,}")
        print(f"total amount         Rp {first['total_amount']:,}")
        print(f"decision hash        {first['decision_hash']}")
        print(f"same hash again      {same}")
        ok = same and first["cadres_evaluated"] == args.cadres and first_s < args.target_seconds
        print(f"result               {'OK' if ok else 'FAILED'} (target: under {args.target_seconds:.0f} s)")
        return 0 if ok else 1
    finally:
        if postgres and not args.keep:
            drop_database(args.database_url, url)


if __name__ == "__main__":
    sys.exit(main())
