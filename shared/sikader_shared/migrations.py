"""Alembic helpers shared by the four services' migration environments."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection

from sikader_shared.db import INFRASTRUCTURE_TABLES, make_engine

# pg_advisory_lock key held while a service's database is migrated (one database per service)
MIGRATION_LOCK_KEY = 0x5E4D_0001


def create_infrastructure_v1(op: Any) -> None:
    """First revision of every service: the outbox, inbox, keys, idempotency, audit, PII read
    log, DLQ log and state tables. Any later change to these tables is a new step here
    (create_infrastructure_v2...) called from a new revision in each service."""
    bind = op.get_bind()
    for table in INFRASTRUCTURE_TABLES:
        table.create(bind, checkfirst=True)


def create_infrastructure_v2(op: Any) -> None:
    """Second step: the DLQ log keeps dead letters the DLQ topic would not take. A database
    created after this step already has the columns (v1 creates the tables as they are now)."""
    from sqlalchemy import inspect

    from sikader_shared.db import INFRASTRUCTURE_TABLES, INFRASTRUCTURE_V2_COLUMNS

    bind = op.get_bind()
    tables = {t.name: t for t in INFRASTRUCTURE_TABLES}
    for table_name, column_name in INFRASTRUCTURE_V2_COLUMNS:
        present = {c["name"] for c in inspect(bind).get_columns(table_name)}
        if column_name not in present:
            column = tables[table_name].c[column_name]
            with op.batch_alter_table(table_name) as batch:
                batch.add_column(column.copy())


def drop_infrastructure_v2(op: Any) -> None:
    from sikader_shared.db import INFRASTRUCTURE_V2_COLUMNS

    for table_name, column_name in reversed(INFRASTRUCTURE_V2_COLUMNS):
        with op.batch_alter_table(table_name) as batch:
            batch.drop_column(column_name)


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
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # Replicas starting at once (docker compose --scale) each migrate on start: one at a
            # time, the others wait, then find the schema at head and do nothing.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            if postgres:
                connection.commit()
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()

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
