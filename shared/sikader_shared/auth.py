"""API keys of OPD clients: issue, revoke, verify, and the FastAPI dependency that turns a
bearer key into an Actor with scopes.

A key looks like `sk_<key_id>_<secret>`; only its SHA-256 is stored (keys are long random
strings, so a fast hash is enough). Issuing and revoking write ApiKeyIssued / ApiKeyRevoked
to the outbox; every service applies those to its own copy of the table, so a revocation
reaches every service within a consumer hop (well under 5 s)."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.clock import utc
from sikader_shared.db import ApiKeyRecord
from sikader_shared.envelope import Envelope
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events.auth import ApiKeyIssued, ApiKeyRevoked
from sikader_shared.logging import actor_var
from sikader_shared.ratelimit import limiter_of
from sikader_shared.uow import Actor, UnitOfWork

SCOPES = frozenset(
    {
        "admin",
        "registry:read",
        "registry:write",
        "registry:pii",
        "posyandu:verify",
        "certification:train",
        "certification:assess",
        "certification:revoke",
        "incentives:read",
        "incentives:policy",
        "incentives:calculate",
        "incentives:approve",
        "incentives:pay",
        "notifications:subscribe",
        "notifications:broadcast",
        "audit:read",
    }
)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    key_id = secrets.token_hex(6)
    return key_id, f"sk_{key_id}_{secrets.token_urlsafe(32)}"


async def issue_key(uow: UnitOfWork, client_id: str, scopes: list[str], label: str = "") -> tuple[str, str]:
    """Returns (key_id, key). The key is shown once and never stored."""
    unknown = sorted(set(scopes) - SCOPES)
    if unknown:
        raise Invalid(f"unknown scopes: {', '.join(unknown)}", known=sorted(SCOPES))
    if not client_id or not client_id.replace("-", "").replace("_", "").isalnum():
        raise Invalid("client id must be letters, digits, '-' or '_'")
    key_id, key = new_key()
    event = ApiKeyIssued(
        key_id=key_id,
        client_id=client_id,
        key_hash=hash_key(key),
        scopes=sorted(set(scopes)),
        label=label,
        issued_at=uow.clock.now(),
    )
    await apply_key_issued(uow, event)
    uow.emit(event)
    uow.audit("api_key.issue", "api_key", key_id, None, {"client_id": client_id, "scopes": event.scopes})
    return key_id, key


async def revoke_key(uow: UnitOfWork, key_id: str, reason: str = "") -> None:
    record = await uow.session.get(ApiKeyRecord, key_id)
    if record is None:
        raise NotFound(f"no API key {key_id}")
    if record.revoked_at is not None:
        raise Conflict(f"API key {key_id} is already revoked")
    event = ApiKeyRevoked(key_id=key_id, client_id=record.client_id, revoked_at=uow.clock.now(), reason=reason)
    await apply_key_revoked(uow, event)
    uow.emit(event)
    uow.audit("api_key.revoke", "api_key", key_id, {"revoked_at": None}, {"revoked_at": str(event.revoked_at)})


async def apply_key_issued(uow: UnitOfWork, event: ApiKeyIssued, _env: Envelope | None = None) -> None:
    record = await uow.session.get(ApiKeyRecord, event.key_id)
    if record is None:
        uow.session.add(
            ApiKeyRecord(
                key_id=event.key_id,
                client_id=event.client_id,
                key_hash=event.key_hash,
                scopes=list(event.scopes),
                label=event.label,
                issued_at=event.issued_at,
            )
        )


async def apply_key_revoked(uow: UnitOfWork, event: ApiKeyRevoked, _env: Envelope | None = None) -> None:
    record = await uow.session.get(ApiKeyRecord, event.key_id)
    if record is None:
        # Revocation seen before the issue (another partition): keep a tombstone so the later
        # ApiKeyIssued cannot resurrect the key.
        uow.session.add(
            ApiKeyRecord(
                key_id=event.key_id,
                client_id=event.client_id,
                key_hash=f"revoked:{event.key_id}",
                scopes=[],
                issued_at=event.revoked_at,
                revoked_at=event.revoked_at,
            )
        )
    elif record.revoked_at is None:
        record.revoked_at = event.revoked_at
        uow.session.add(record)


AUTH_HANDLERS: dict[Any, Any] = {ApiKeyIssued: apply_key_issued, ApiKeyRevoked: apply_key_revoked}


class KeyVerifier:
    """Looks keys up in this service's own table, with a one-second cache so a burst of
    requests does not hit the database each time, and revocation still lands within ~1 s of
    the event arriving."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl_s: float = 1.0) -> None:
        self._sessions = sessions
        self._ttl = ttl_s
        self._cache: dict[str, tuple[float, Actor | None]] = {}

    async def actor_for(self, key: str) -> Actor | None:
        digest = hash_key(key)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        async with self._sessions() as session:
            record = (await session.exec(select(ApiKeyRecord).where(ApiKeyRecord.key_hash == digest))).first()
        actor = None
        if record is not None and record.revoked_at is None:
            actor = Actor(
                client_id=record.client_id,
                key_id=record.key_id,
                scopes=frozenset(record.scopes),
                label=record.label or "",
            )
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, actor)
        return actor


# Only declares the scheme in the OpenAPI (and which operations need a key); the key is
# read and checked by `require` itself, with its own 401 answers.
BEARER = HTTPBearer(auto_error=False, description="API key of an OPD client: `Authorization: Bearer sk_...`")


def require(scope: str | None = None) -> Callable[..., Awaitable[Actor]]:
    """FastAPI dependency: 401 without a valid key, 403 without the scope."""

    async def dependency(request: Request, _declared: Any = Depends(BEARER)) -> Actor:
        limiter = limiter_of(request)
        if limiter is not None:  # an address that keeps failing is refused before its key is looked at
            limiter.blocked(request, "auth_failures")

        def refused(detail: str) -> HTTPException:
            if limiter is not None:
                limiter.check(request, "auth_failures")  # 429 once over the limit
            return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})

        header = request.headers.get("authorization", "")
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise refused("missing bearer API key")
        verifier: KeyVerifier = request.app.state.runtime.keys
        actor = await verifier.actor_for(key.strip())
        if actor is None:
            raise refused("unknown or revoked API key")
        if scope is not None and not actor.has(scope):
            raise HTTPException(403, f"this key lacks the scope {scope!r}")
        request.state.actor = actor
        actor_var.set(actor.client_id)
        return actor

    dependency.required_scope = scope or ""  # type: ignore[attr-defined]  # read by document_scopes
    return dependency


def route_scopes(dependant: Any) -> list[str] | None:
    """The scopes a route's `require` dependencies ask for ([] = any valid key; None = public)."""
    found: list[str] | None = None
    stack = [dependant]
    while stack:
        d = stack.pop()
        scope = getattr(d.call, "required_scope", None)
        if scope is not None:
            found = (found or []) + ([scope] if scope else [])
        stack.extend(d.dependencies)
    return found


def document_scopes(spec: dict[str, Any], routes: list[Any]) -> dict[str, Any]:
    """Name in the OpenAPI the scope each operation needs: `x-required-scopes` and a line in its
    description (the `security` requirement says a bearer key; this says which)."""
    from fastapi.routing import APIRoute, iter_route_contexts

    for context in iter_route_contexts(routes):  # routes of included routers too, with prefixes
        route = context.original_route
        if not isinstance(route, APIRoute):
            continue
        scopes = route_scopes(getattr(context, "dependant", None) or route.dependant)
        if scopes is None:
            continue
        path = getattr(context, "path_format", route.path_format)
        for method in getattr(context, "methods", None) or route.methods or set():
            op = spec.get("paths", {}).get(path, {}).get(method.lower())
            if op is None:
                continue
            op["x-required-scopes"] = scopes
            needs = ", ".join(f"`{s}`" for s in scopes) if scopes else "any valid key"
            line = f"**Scope:** {needs} (an `admin` key may do everything)." if scopes else f"**Scope:** {needs}."
            op["description"] = f"{op.get('description', '').rstrip()}\n\n{line}".lstrip()
    return spec


async def list_keys(session: AsyncSession) -> list[dict[str, Any]]:
    rows = (await session.exec(select(ApiKeyRecord).order_by(ApiKeyRecord.issued_at))).all()  # type: ignore[arg-type]
    return [
        {
            "key_id": r.key_id,
            "client_id": r.client_id,
            "scopes": r.scopes,
            "label": r.label,
            "issued_at": utc(r.issued_at).isoformat(),
            "revoked_at": utc(r.revoked_at).isoformat() if r.revoked_at else None,
        }
        for r in rows
    ]
