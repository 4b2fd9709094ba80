"""Idempotent, batched event consumption following the contract's consumer rules.

Per batch from Kafka: decode and validate every record; the good ones go through the inbox
(consumer, event id, body hash) and their handlers in ONE database transaction; bad ones go
to the service's DLQ topic, unchanged, with the reason in headers; only after the DB commit
and the DLQ acks are the offsets committed. If the batch transaction fails, each event is
retried alone a bounded number of times, then dead-lettered, so one poison event never
blocks the partition.

The inbox rows of a batch go in with one statement (`ON CONFLICT DO NOTHING RETURNING`):
what comes back is new; only the rest (repeats, rare) are looked up for their body hash. A
`BatchHandler` receives a run of consecutive new events at once (set-based handlers)."""

from __future__ import annotations

import asyncio
import contextvars
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlmodel import col, select

from sikader_shared.bulk import bulk_insert_columns
from sikader_shared.db import DlqRecord, InboxRecord
from sikader_shared.envelope import Envelope, EnvelopeError, headers_to_dict, parse_envelope
from sikader_shared.events.base import EVENT_MODELS, Event
from sikader_shared.logging import correlation_id_var, event_id_var
from sikader_shared.uow import SYSTEM, Actor, UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[UnitOfWork, Any, Envelope], Awaitable[None]]
INBOX = InboxRecord.__table__  # type: ignore[attr-defined]


class BatchHandler:
    """A handler that takes many events at once: the consumer passes it each run of
    consecutive new events it handles, in order, inside the batch's transaction. Called
    with one event it behaves as a plain handler (the one-by-one retry path)."""

    def __init__(self, apply: Callable[[UnitOfWork, list[tuple[Any, Envelope]]], Awaitable[None]]) -> None:
        self.apply = apply

    async def __call__(self, uow: UnitOfWork, event: Any, envelope: Envelope) -> None:
        await self.apply(uow, [(event, envelope)])


class Record(Protocol):
    """What we need of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class DeadLetter:
    record: Record
    error: str
    attempts: int
    event_id: str | None = None

    def headers(self, consumer: str) -> list[tuple[str, bytes]]:
        extra = {
            "dlq_topic": self.record.topic,
            "dlq_partition": str(self.record.partition),
            "dlq_offset": str(self.record.offset),
            "dlq_error": self.error[:1000],
            "dlq_attempts": str(self.attempts),
            "dlq_consumer": consumer,
        }
        original = [(k, v) for k, v in (self.record.headers or []) if k not in extra]
        return original + [(k, v.encode("utf-8")) for k, v in extra.items()]


@dataclass
class Decoded:
    record: Record
    envelope: Envelope
    event: Event
    body_hash: str


def is_infrastructure_error(exc: BaseException) -> bool:
    """The database or network is away: retry the whole batch later, never dead-letter."""
    return isinstance(exc, OperationalError | InterfaceError | OSError | TimeoutError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )


def _type_family(ce_type: str) -> str:
    """`sikader.x.Name.v2` -> `sikader.x.Name` (the type without its major version)."""
    head, _, tail = ce_type.rpartition(".v")
    return head if tail.isdigit() else ce_type


class EventConsumer:
    """Decodes, deduplicates and applies one service's subscribed events."""

    def __init__(
        self,
        name: str,
        handlers: dict[type[Event], Handler],
        uow_factory: Callable[..., UnitOfWork],
        *,
        max_attempts: int = 3,
        max_body_bytes: int = 1_000_000,
    ) -> None:
        self.name = name
        self.handlers = {model.ce_type(): (model, h) for model, h in handlers.items()}
        self.families = {_type_family(t) for t in self.handlers}
        self.topics = sorted({model.topic for model in handlers})
        self.uow_factory = uow_factory
        self.max_attempts = max_attempts
        self.max_body_bytes = max_body_bytes
        self.applied_total = 0
        self.skipped_total = 0
        self.dead_lettered_total = 0

    # -- decoding -------------------------------------------------------------------------

    def decode(self, record: Record) -> Decoded | DeadLetter | None:
        """A decoded event, a dead letter, or None for a type this consumer ignores."""
        try:
            headers = headers_to_dict(record.headers or [])
            env = parse_envelope(headers)
        except EnvelopeError as exc:
            return DeadLetter(record, f"envelope: {exc}", 1)
        if env.type not in self.handlers:
            if _type_family(env.type) in self.families:
                return DeadLetter(record, f"unknown major version: {env.type}", 1, env.id)
            if env.type not in EVENT_MODELS:
                log.info("ignoring unsubscribed event type", extra={"ce_type": env.type})
            return None
        body = record.value or b""
        if len(body) > self.max_body_bytes:
            return DeadLetter(record, f"body of {len(body)} bytes exceeds {self.max_body_bytes}", 1, env.id)
        model, _ = self.handlers[env.type]
        try:
            event = model.model_validate_json(body)  # parse and validate in one pass (no dict in between)
        except ValidationError as exc:
            errors = exc.errors()
            if errors and errors[0]["type"] == "json_invalid":
                return DeadLetter(record, f"body is not JSON: {errors[0]['msg']}", 1, env.id)
            text = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors[:5])
            return DeadLetter(record, f"schema: {text}", 1, env.id)
        return Decoded(record, env, event, hashlib.sha256(body).hexdigest())

    # -- applying -------------------------------------------------------------------------

    async def _apply(self, uow: UnitOfWork, items: list[Decoded]) -> list[DeadLetter]:
        """Inside one transaction: skip what was applied, dead-letter conflicting repeats,
        apply the rest. Returns dead letters found (not yet published)."""
        dead: list[DeadLetter] = []
        first: dict[str, Decoded] = {}
        for d in items:
            first.setdefault(d.envelope.id, d)
        fresh = sorted(first.values(), key=lambda d: d.envelope.id)  # one lock order for all consumers
        columns: dict[str, list[Any]] = {
            "consumer": [self.name] * len(fresh),
            "event_id": [d.envelope.id for d in fresh],
            "body_hash": [d.body_hash for d in fresh],
            "ce_type": [d.envelope.type for d in fresh],
            "applied_at": [uow.clock.now()] * len(fresh),
        }
        new = set(await bulk_insert_columns(uow.session, INBOX, columns, on_conflict="nothing", returning="event_id"))
        repeats = [i for i in first if i not in new]
        stored: dict[str, str] = {}
        for start in range(0, len(repeats), 500):
            found = await uow.session.exec(
                select(InboxRecord.event_id, InboxRecord.body_hash).where(
                    InboxRecord.consumer == self.name, col(InboxRecord.event_id).in_(repeats[start : start + 500])
                )
            )
            stored.update(dict(found.all()))
        todo: list[Decoded] = []
        for d in items:
            event_id = d.envelope.id
            if event_id in new and first[event_id] is d:
                todo.append(d)
                continue
            # A repeat: of what was applied before this batch, or of its first copy in this batch.
            applied = first[event_id].body_hash if event_id in new else stored.get(event_id)
            if applied != d.body_hash:
                dead.append(DeadLetter(d.record, "repeated ce_id with a different body", 1, event_id))
            else:
                self.skipped_total += 1
        await self._run_handlers(uow, todo)
        return dead

    async def _run_handlers(self, uow: UnitOfWork, todo: list[Decoded]) -> None:
        """Per event in order; consecutive events of one BatchHandler go to it together."""
        i = 0
        while i < len(todo):
            _, handler = self.handlers[todo[i].envelope.type]
            if isinstance(handler, BatchHandler):
                j = i + 1
                while j < len(todo) and self.handlers[todo[j].envelope.type][1] is handler:
                    j += 1
                # Many events, many causes: the handler sets actor and causation per effect.
                uow.actor, uow.correlation_id, uow.causation_id = SYSTEM, None, None
                await handler.apply(uow, [(d.event, d.envelope) for d in todo[i:j]])
                self.applied_total += j - i
                i = j
                continue
            d = todo[i]
            token_e = event_id_var.set(d.envelope.id)
            token_c = correlation_id_var.set(d.envelope.correlation_id)
            try:
                uow.actor = Actor(client_id=d.envelope.actor)
                uow.correlation_id = d.envelope.correlation_id
                uow.causation_id = d.envelope.id
                await handler(uow, d.event, d.envelope)
            finally:
                event_id_var.reset(token_e)
                correlation_id_var.reset(token_c)
            self.applied_total += 1
            i += 1

    async def process(self, records: Sequence[Record]) -> list[DeadLetter]:
        """Apply a batch. Returns the dead letters the caller must publish (and have acked)
        before it commits the offsets."""
        # In a context of its own: FastStream calls us in a context that holds the whole batch
        # message, and whatever this work creates that outlives it keeps that context, hence
        # the batch, alive (asyncpg's statement-cache timers): many batches' worth of memory.
        return await asyncio.create_task(self._process(records), context=contextvars.Context())

    async def _process(self, records: Sequence[Record]) -> list[DeadLetter]:
        dead: list[DeadLetter] = []
        good: list[Decoded] = []
        for r in records:
            out = self.decode(r)
            if isinstance(out, DeadLetter):
                dead.append(out)
            elif out is not None:
                good.append(out)
        if not good:
            if dead:
                await self._log_dead(dead)
            return dead
        decode_dead = list(dead)
        try:
            async with self.uow_factory() as uow:
                dead += await self._apply(uow, good)
                await self._record_dead(uow, dead)
                await uow.commit()
            self.dead_lettered_total += len(dead)
            return dead
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise
            log.warning("batch failed; retrying events one by one", exc_info=True)
        dead = decode_dead  # what _apply found went down with the failed transaction
        for d in good:
            dead += await self._process_one(d)
        await self._log_dead(dead)
        return dead

    async def _process_one(self, item: Decoded) -> list[DeadLetter]:
        last = ""
        for _attempt in range(1, self.max_attempts + 1):
            try:
                async with self.uow_factory() as uow:
                    dead = await self._apply(uow, [item])
                    await uow.commit()
                    return dead
            except Exception as exc:
                if is_infrastructure_error(exc):
                    raise
                last = f"{type(exc).__name__}: {exc}"
                log.warning("handler failed", extra={"ce_type": item.envelope.type, "error": last})
        return [DeadLetter(item.record, f"handler failed: {last}", self.max_attempts, item.envelope.id)]

    async def _record_dead(self, uow: UnitOfWork, dead: list[DeadLetter]) -> None:
        for d in dead:
            uow.session.add(
                DlqRecord(
                    at=uow.clock.now(),
                    consumer=self.name,
                    topic=d.record.topic,
                    partition=d.record.partition,
                    offset=d.record.offset,
                    event_id=d.event_id,
                    error=d.error,
                    attempts=d.attempts,
                )
            )
            log.warning("dead-lettered", extra={"topic": d.record.topic, "offset": d.record.offset, "error": d.error})

    async def _log_dead(self, dead: list[DeadLetter]) -> None:
        if not dead:
            return
        async with self.uow_factory() as uow:
            await self._record_dead(uow, dead)
            await uow.commit()
        self.dead_lettered_total += len(dead)
