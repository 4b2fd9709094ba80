"""Sign-in, the current session, sign-out and the one-time page message."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from console.adapters import repository
from console.adapters.services import Caller, ServiceClient, ServiceUnreachable, SignedOut
from console.adapters.tables import SessionRow
from console.config import ConsoleConfig
from console.domain.sessions import Visitor, expired, person_name, token_hash
from sikader_shared.crypto import FieldCipherError

Store = async_sessionmaker[AsyncSession]
# last_seen_at is written at most this often (idle expiry is counted in minutes)
TOUCH_EVERY = timedelta(seconds=30)


class SignInRefused(Exception):
    def __init__(self, reason: str, status: int, **values: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.values = values


@dataclass(frozen=True)
class Current:
    visitor: Visitor
    caller: Caller


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)  # SQLite gives naive datetimes back


async def sign_in(store: Store, client: ServiceClient, config: ConsoleConfig, key: str, address: str) -> str:
    """Checks the key with the registry (GET /auth/whoami), then keeps it encrypted in a new
    session. Returns the session token for the cookie."""
    if config.cipher is None:
        raise SignInRefused("no_session_key", 503)
    key = key.strip()
    if not key or len(key) > 200:
        raise SignInRefused("bad_key", 401)
    try:
        answer = await client.get(Caller(key, address), "registry", "/auth/whoami")
    except SignedOut:
        raise SignInRefused("bad_key", 401) from None
    except ServiceUnreachable as exc:
        raise SignInRefused("service_unreachable", 503, service=exc.service) from None
    if not answer.ok or not isinstance(answer.body, dict):
        raise SignInRefused("bad_key", 401)
    token = secrets.token_urlsafe(32)
    now = _now()
    row = SessionRow(
        token_hash=token_hash(token),
        key_ciphertext=config.cipher.encrypt(key) or "",
        csrf_token=secrets.token_urlsafe(24),
        person=person_name(answer.body)[:200],
        client_id=str(answer.body.get("client_id", ""))[:100],
        key_id=str(answer.body.get("key_id", ""))[:64],
        scopes=[str(s) for s in answer.body.get("scopes", [])],
        created_at=now,
        last_seen_at=now,
    )
    async with store() as db:
        await repository.delete_idle_before(db, *_limits(config, now))
        await repository.add_session(db, row)
    return token


def _limits(config: ConsoleConfig, now: datetime) -> tuple[datetime, datetime]:
    s = config.settings
    return now - timedelta(minutes=s.session_idle_minutes), now - timedelta(hours=s.session_absolute_hours)


async def current(store: Store, config: ConsoleConfig, token: str, address: str, correlation_id: str) -> Current | None:
    """The session behind a cookie, or None (unknown, expired, or its key no longer decrypts).
    Reading it takes the one-time message and keeps the session alive."""
    if not token or config.cipher is None:
        return None
    digest = token_hash(token)
    now = _now()
    s = config.settings
    async with store() as db:
        row = await repository.get_session(db, digest)
        if row is None:
            return None
        idle, absolute = timedelta(minutes=s.session_idle_minutes), timedelta(hours=s.session_absolute_hours)
        if expired(_aware(row.created_at), _aware(row.last_seen_at), now, idle, absolute):
            await repository.delete_session(db, digest)
            return None
        try:
            key = config.cipher.decrypt(row.key_ciphertext) or ""
        except FieldCipherError:
            await repository.delete_session(db, digest)
            return None
        flash = row.flash
        if flash is not None or now - _aware(row.last_seen_at) > TOUCH_EVERY:
            row.flash = None
            row.last_seen_at = now
            await repository.save_session(db, row)
    visitor = Visitor(digest, row.person, row.client_id, frozenset(row.scopes), row.csrf_token, flash)
    return Current(visitor, Caller(key, address, correlation_id))


async def sign_out(store: Store, digest: str) -> None:
    async with store() as db:
        await repository.delete_session(db, digest)


async def set_flash(store: Store, digest: str, kind: str, message: str) -> None:
    """A message for the next page this session opens (after a redirect)."""
    async with store() as db:
        row = await repository.get_session(db, digest)
        if row is not None:
            row.flash = {"kind": kind, "text": message[:1000]}
            await repository.save_session(db, row)
