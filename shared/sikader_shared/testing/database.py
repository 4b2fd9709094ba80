"""Per-service test databases derived from `TEST_DATABASE_URL`.

With a PostgreSQL URL each call creates a fresh database (`<base>_<service>_<random>`) on
that server, dropped by `drop_database`. Without one, a SQLite file in a temporary
directory. `SIKADER_TEST_REQUIRE_POSTGRES=1` makes PostgreSQL mandatory: the harness fails
instead of falling back to SQLite when the URL is missing or the server does not answer."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import asyncpg
from sqlalchemy.engine import make_url


class DatabaseUnavailable(RuntimeError):
    pass


def _pg_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url).set(drivername="postgresql")
    if database is not None:
        u = u.set(database=database)
    return u.render_as_string(hide_password=False)


async def _admin_exec_async(url: str, sql: str) -> None:
    conn = await asyncpg.connect(_pg_dsn(url), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin_exec(url: str, sql: str) -> None:
    """Blocking, and callable from inside a running event loop (runs in its own thread)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _admin_exec_async(url, sql)).result()


LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"  # what `make postgres` starts


def service_database_url(service: str, *, sqlite: bool = False, postgres: bool = False) -> str:
    """`sqlite=True`: a SQLite file whatever TEST_DATABASE_URL says; `postgres=True`: PostgreSQL
    (TEST_DATABASE_URL, else the local server of `make postgres`) or an error, never SQLite
    (the handler tier's choices)."""
    base = "" if sqlite else os.environ.get("TEST_DATABASE_URL", "") or (LOCAL_POSTGRES if postgres else "")
    require = postgres or (not sqlite and os.environ.get("SIKADER_TEST_REQUIRE_POSTGRES") == "1")
    if not base:
        if require:
            raise DatabaseUnavailable("SIKADER_TEST_REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
        path = os.path.join(tempfile.mkdtemp(prefix=f"sikader-{service}-"), f"{service}.db")
        return f"sqlite:///{path}"
    if not make_url(base).drivername.startswith("postgres"):
        return base
    name = f"{make_url(base).database or 'test'}_{service}_{uuid.uuid4().hex[:10]}"
    try:
        _admin_exec(base, f'CREATE DATABASE "{name}"')
    except Exception as exc:
        raise DatabaseUnavailable(f"cannot create a test database on {make_url(base)!r}: {exc}") from exc
    return _pg_dsn(base, name)


def drop_database(url: str) -> None:
    u = make_url(url)
    if not u.drivername.startswith("postgres"):
        return
    # From the server's maintenance database: a database cannot be dropped from inside itself.
    admin = u.set(database="postgres").render_as_string(hide_password=False)
    try:
        _admin_exec(admin, f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)')
    except Exception:
        pass


@contextmanager
def temporary_databases(*, sqlite: bool = False, postgres: bool = False) -> Iterator[Callable[[str], str]]:
    """A maker of per-service test databases, each dropped when the block ends (the body of
    the `databases` fixtures, whatever their scope)."""
    created: list[str] = []

    def make(service: str) -> str:
        url = service_database_url(service, sqlite=sqlite, postgres=postgres)
        created.append(url)
        return url

    try:
        yield make
    finally:
        for url in created:
            drop_database(url)
