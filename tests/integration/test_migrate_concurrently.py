"""Issue 14, item 6: replicas that start at once on an empty database each migrate on start
(deploy/docker-entrypoint.sh): a PostgreSQL advisory lock runs the migrations one at a time,
the others find the schema at head. Three `migrate` processes of each service at once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import text

from sikader_shared.db import make_engine

pytestmark = pytest.mark.integration

SERVICES = ("registry", "certification", "incentives", "notifications")


def migrate(service: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, f"SIKADER_{service.upper()}_DATABASE_URL": url}
    return subprocess.run(
        [sys.executable, "-m", f"{service}.entrypoints.cli", "migrate"], env=env, capture_output=True, text=True
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_three_replicas_migrate_an_empty_database_at_once(service: str, databases: Any) -> None:
    url = databases(service)
    if not url.startswith("postgresql"):
        pytest.skip("the lock is PostgreSQL's (SQLite is one process's file: make run, tests)")
    runs = await asyncio.gather(*(asyncio.to_thread(migrate, service, url) for _ in range(3)))
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
            dlq_columns = (
                await conn.execute(
                    text("SELECT column_name FROM information_schema.columns WHERE table_name = 'dlq_log'")
                )
            ).scalars().all()
    finally:
        await engine.dispose()
    assert len(versions) == 1 and versions[0].startswith(f"{service}_")
    assert {"published", "message_value"} <= set(dlq_columns)
