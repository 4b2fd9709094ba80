"""Database plumbing: URL normalisation, async engine, and the infrastructure tables that
every service has in its own database (outbox, inbox, API keys, idempotency, audit, PII read
log, DLQ log, service state). Services add their own tables beside these."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, DateTime, Index, Integer, LargeBinary, Text, event, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def Timestamp(nullable: bool = False, index: bool = False) -> Any:  # noqa: N802
    return Field(sa_column=Column(DateTime(timezone=True), nullable=nullable, index=index))


def async_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite:///` URLs (what operators write) and pick the
    async drivers."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    elif u.drivername == "sqlite":
        u = u.set(drivername="sqlite+aiosqlite")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).drivername.startswith("sqlite")


def make_engine(url: str, echo: bool = False) -> AsyncEngine:
    # hide_parameters: a database error's text otherwise carries the statement's values (a
    # cadre's NIK, phone, address, account) into the logged traceback (UU 27/2022).
    url = async_url(url)
    if is_sqlite(url):
        path = make_url(url).database
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_async_engine(url, echo=echo, hide_parameters=True, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    engine = create_async_engine(
        url, echo=echo, hide_parameters=True, pool_size=10, max_overflow=10, pool_pre_ping=True
    )
    event.listen(engine.sync_engine, "handle_error", _server_unavailable_is_a_disconnect)
    return engine


# A server that is shutting down, crashed, still starting or full answers with these SQLSTATEs
# (asyncpg reports them as plain errors). They mean "the database is away for a moment", like
# a dropped connection: marked as a disconnect, the error says `connection_invalidated`, the
# pool drops the connection, and the consumer retries the batch later instead of
# dead-lettering its events.
_SERVER_UNAVAILABLE = ("57P01", "57P02", "57P03", "53300")  # admin / crash shutdown, cannot connect now, too many


def _server_unavailable_is_a_disconnect(context: ExceptionContext) -> None:
    sqlstate = str(getattr(context.original_exception, "sqlstate", None) or "")
    if sqlstate in _SERVER_UNAVAILABLE or sqlstate.startswith("08"):
        context.is_disconnect = True


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


# --- infrastructure tables (same shape in every service's database) -----------------------


class OutboxRecord(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_unpublished", "published_at", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=36, unique=True)
    topic: str = Field(max_length=200)
    key: str = Field(max_length=200)
    ce_type: str = Field(max_length=200)
    headers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Timestamp()
    published_at: datetime | None = Timestamp(nullable=True)


class InboxRecord(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    event_id: str = Field(primary_key=True, max_length=100)
    body_hash: str = Field(max_length=64)
    ce_type: str = Field(max_length=200)
    applied_at: datetime = Timestamp()


class ApiKeyRecord(SQLModel, table=True):
    __tablename__ = "api_keys"

    key_id: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=100, index=True)
    key_hash: str = Field(max_length=64, unique=True)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    label: str = ""
    issued_at: datetime = Timestamp()
    revoked_at: datetime | None = Timestamp(nullable=True)


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_keys"

    client_id: str = Field(primary_key=True, max_length=100)
    key: str = Field(primary_key=True, max_length=200)
    method: str = Field(max_length=10)
    path: str = Field(max_length=500)
    request_hash: str = Field(max_length=64)
    status_code: int
    response_body: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Timestamp()


class AuditRecord(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    at: datetime = Timestamp()
    actor_client: str = Field(max_length=100)
    actor_key: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=100)
    entity_type: str = Field(max_length=50)
    entity_id: str = Field(max_length=100)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    correlation_id: str | None = Field(default=None, max_length=100)


class PiiReadRecord(SQLModel, table=True):
    __tablename__ = "pii_read_log"
    __table_args__ = (Index("ix_pii_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    at: datetime = Timestamp()
    actor_client: str = Field(max_length=100)
    actor_key: str | None = Field(default=None, max_length=64)
    entity_type: str = Field(max_length=50)
    entity_id: str = Field(max_length=100)
    fields: list[str] = Field(sa_column=Column(JSON, nullable=False))
    route: str = Field(max_length=500)


class DlqRecord(SQLModel, table=True):
    __tablename__ = "dlq_log"

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    at: datetime = Timestamp()
    consumer: str = Field(max_length=100)
    topic: str = Field(max_length=200)
    partition: int
    offset: int = Field(sa_column=Column(BigInteger, nullable=False))
    event_id: str | None = Field(default=None, max_length=100)
    error: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int
    # A dead letter the DLQ topic would not take (after bounded retries) is kept here instead,
    # with the original message, so that the partition moves on and nothing is lost: listed and
    # re-driven by the `dlq` CLI. `published` stays true for the usual case (on the topic).
    published: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, server_default=text("true")))
    publish_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    message_key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    message_value: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    message_headers: list[list[str]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


# Columns added to the infrastructure tables after their first revision: (table, column), in
# the order migrations.create_infrastructure_v2 adds them to an existing database.
INFRASTRUCTURE_V2_COLUMNS = [
    ("dlq_log", "published"),
    ("dlq_log", "publish_error"),
    ("dlq_log", "message_key"),
    ("dlq_log", "message_value"),
    ("dlq_log", "message_headers"),
]


class ServiceStateRecord(SQLModel, table=True):
    __tablename__ = "service_state"

    name: str = Field(primary_key=True, max_length=100)
    value: str = Field(sa_column=Column(Text, nullable=False))


INFRASTRUCTURE_TABLES = [
    OutboxRecord.__table__,  # type: ignore[attr-defined]
    InboxRecord.__table__,  # type: ignore[attr-defined]
    ApiKeyRecord.__table__,  # type: ignore[attr-defined]
    IdempotencyRecord.__table__,  # type: ignore[attr-defined]
    AuditRecord.__table__,  # type: ignore[attr-defined]
    PiiReadRecord.__table__,  # type: ignore[attr-defined]
    DlqRecord.__table__,  # type: ignore[attr-defined]
    ServiceStateRecord.__table__,  # type: ignore[attr-defined]
]
