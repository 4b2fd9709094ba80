"""HTTP write plumbing: every write runs in a unit of work; with an `Idempotency-Key`
header the first answer is stored in the same transaction and replayed for a repeat."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError

from sikader_shared.db import IdempotencyRecord, PiiReadRecord
from sikader_shared.errors import Invalid, ServiceError
from sikader_shared.logging import correlation_id_var
from sikader_shared.uow import Actor, UnitOfWork

IDEMPOTENCY_HEADER = "Idempotency-Key"


async def execute_write(
    request: Request,
    actor: Actor,
    operation: Callable[[UnitOfWork], Awaitable[Any]],
    *,
    status_code: int = 200,
    body: Any = None,
) -> JSONResponse:
    """Run `operation` in a new unit of work as `actor` and answer with its result."""
    runtime = request.app.state.runtime
    key = request.headers.get(IDEMPOTENCY_HEADER)
    request_hash = _request_hash(request, body)
    if key is not None and not (1 <= len(key) <= 200):
        raise Invalid("Idempotency-Key must be 1-200 characters")
    for _ in range(2):
        async with runtime.uow(actor=actor, correlation_id=correlation_id_var.get()) as uow:
            if key is not None:
                previous = await uow.session.get(IdempotencyRecord, (actor.client_id, key))
                if previous is not None:
                    return _replay(previous, request_hash)
            result = await operation(uow)
            content = _jsonable(result)
            if key is not None:
                uow.session.add(
                    IdempotencyRecord(
                        client_id=actor.client_id,
                        key=key,
                        method=request.method,
                        path=request.url.path,
                        request_hash=request_hash,
                        status_code=status_code,
                        response_body=json.dumps(content),
                        created_at=uow.clock.now(),
                    )
                )
            try:
                await uow.commit()
            except IntegrityError:
                if key is None:
                    raise
                continue  # a concurrent request with the same key won: replay its answer
            return JSONResponse(content, status_code=status_code)
    raise ServiceError("could not complete the idempotent write, try again")


def _jsonable(result: Any) -> Any:
    """`jsonable_encoder(result)`, with the plain parts done by the json module in C (an
    import's report lists up to 10,000 rows; jsonable_encoder walks them in Python)."""
    return json.loads(json.dumps(result, default=jsonable_encoder))


def _replay(previous: IdempotencyRecord, request_hash: str) -> JSONResponse:
    if previous.request_hash != request_hash:
        raise Invalid(
            "Idempotency-Key was already used with a different request",
            first_request=f"{previous.method} {previous.path}",
        )
    response = JSONResponse(json.loads(previous.response_body), status_code=previous.status_code)
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _request_hash(request: Request, body: Any) -> str:
    payload = json.dumps(jsonable_encoder(body), sort_keys=True, default=str)
    raw = f"{request.method} {request.url.path}?{request.url.query}\n{payload}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def log_pii_read(uow: UnitOfWork, request: Request, entity_type: str, entity_id: str, fields: list[str]) -> None:
    """Record that `uow.actor` read unmasked personal data (UU 27/2022)."""
    uow.session.add(
        PiiReadRecord(
            at=uow.clock.now(),
            actor_client=uow.actor.client_id,
            actor_key=uow.actor.key_id,
            entity_type=entity_type,
            entity_id=entity_id,
            fields=fields,
            route=f"{request.method} {request.url.path}",
        )
    )
