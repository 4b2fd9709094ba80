"""Alembic helpers shared by the four services' migration environments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from sikader_shared.db import INFRASTRUCTURE_TABLES, make_engine


def create_infrastructure_v1(op: Any) -> None:
    """First revision of every service: the outbox, inbox, keys, idempotency, audit, PII read
    log, DLQ log and state tables. Any later change to these tables is a new step here
    (create_infrastructure_v2...) called from a new revision in each service."""
    bind = op.get_bind()
    for table in INFRASTRUCTURE_TABLES:
        table.create(bind, checkfirst=True)


def drop_infrastructure_v1(op: Any) -> None:
    bind = op.get_bind()
    for table in reversed(INFRASTRUCTURE_TABLES):
        table.drop(bind, checkfirst=True)


def run_env(target_metadata: MetaData | None = None) -> None:
    """Body of each service's migrations/env.py (online mode, async engine)."""
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no sqlalchemy.url given to alembic")

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = make_engine(url)
        async with engine.connect() as conn:
            await conn.run_sync(do_run)
            await conn.commit()
        await engine.dispose()

    asyncio.run(run())


def alembic_config(service_dir: Path, database_url: str) -> Config:
    cfg = Config(str(service_dir / "alembic.ini"))
    cfg.set_main_option("script_location", str(service_dir / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def upgrade_head(service_dir: Path, database_url: str) -> None:
    """Migrate to head. Blocking: from async code call it with asyncio.to_thread."""
    command.upgrade(alembic_config(service_dir, database_url), "head")


def current_is_head(service_dir: Path, database_url: str) -> bool:
    """Used by /health/ready: is the schema at the newest revision?"""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config(service_dir, database_url))
    heads = set(script.get_heads())

    async def read() -> set[str]:
        engine = make_engine(database_url)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(lambda c: set(MigrationContext.configure(c).get_current_heads()))
        finally:
            await engine.dispose()

    return asyncio.run(read()) == heads
