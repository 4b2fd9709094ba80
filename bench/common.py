"""Shared pieces of the benchmarks: machine facts, a broker, a PostgreSQL database, services
as subprocesses, resident memory, and a table printer. Benchmarks print figures; they assert
nothing about time."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sikader_shared.testing.broker import TestBroker, start_test_broker  # noqa: E402
from sikader_shared.testing.database import drop_database, service_database_url  # noqa: E402
from sikader_shared.testing.services import SubprocessService  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

# Posyandu names in the generated data ("Posyandu Melati", ...).
FLOWERS = ["Melati", "Mawar", "Anggrek", "Kenanga", "Dahlia", "Flamboyan", "Cempaka", "Teratai", "Seroja", "Asoka"]


def csv_bytes(header: list[str], rows: list[list[object]]) -> bytes:
    """A CSV file as the import endpoints take it."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def machine() -> str:
    cpus = os.cpu_count()
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return f"{platform.node()} · {platform.machine()} · {cpus} CPUs · {mem} · Python {platform.python_version()}"


def use_postgres() -> None:
    os.environ.setdefault("TEST_DATABASE_URL", DEFAULT_PG)


def broker() -> TestBroker:
    # A broker of its own (the local broker as a subprocess unless told otherwise).
    return start_test_broker(fast_start=False)


def database(service: str) -> str:
    return service_database_url(service)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


FAST_ENV = {
    "SIKADER_FETCH_MAX_WAIT_MS": "10",
    "SIKADER_SESSION_TIMEOUT_MS": "6000",
    "SIKADER_HEARTBEAT_INTERVAL_MS": "500",
    "SIKADER_BROKER_CHECK_INTERVAL_S": "1",
}


def service_env(service: str, bootstrap: str, database_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    from sikader_shared.crypto import derive_dev_key

    prefix = f"SIKADER_{service.upper()}_"
    env = {
        **FAST_ENV,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        f"{prefix}DATABASE_URL": database_url,
        f"{prefix}LOG_LEVEL": "WARNING",
        "SIKADER_LOG_LEVEL": "WARNING",
        "SIKADER_VAR_DIR": str(var_dir),
        "SIKADER_CONTACT_KEY": derive_dev_key("bench", "contact"),
        "SIKADER_PAYMENT_KEY": derive_dev_key("bench", "payment"),
        "PYTHONPATH": str(ROOT),
    }
    env.update(extra)
    return env


async def start_service(service: str, env: dict[str, str], log: Path, migrate: bool = True) -> SubprocessService:
    svc = SubprocessService(service, env, log)
    if migrate:
        await asyncio.to_thread(svc.migrate)
    await svc.start()
    return svc


def table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *_: Any) -> None:
        self.seconds = time.perf_counter() - self.start


__all__ = [
    "FLOWERS",
    "Timer",
    "broker",
    "cpu_seconds",
    "csv_bytes",
    "database",
    "drop_database",
    "machine",
    "rss_mib",
    "service_env",
    "start_service",
    "table",
]
