"""Publishing dead letters so that no message, however malformed or large, stops a partition.

- A dead letter whose message would not fit the DLQ producer's request (the original body plus
  the `dlq_*` headers) goes out with its body replaced by a reference: the origin topic,
  partition and offset, the size and the sha256 (`dlq_body_omitted: true`; the original stays
  on its topic for the `dlq redrive` command).
- A publish that keeps failing (size, authorisation, a topic that refuses it, anything) is
  retried a bounded number of times; then the dead letter is kept in the service's DLQ log with
  the original message (`published = false`), the `dlq` CLI lists and re-drives it, and the
  caller commits the batch's offsets.
- A batch read again (its offsets could not be committed) publishes each dead letter at most
  once per (topic, partition, offset) while the process lives. After a crash one duplicate with
  the same `dlq_*` headers may appear."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.db import DlqRecord
from sikader_shared.inbox import DeadLetter

log = logging.getLogger(__name__)

# Kafka's record overhead beyond key, value and header bytes (record batch header, varints):
# generous, so that a message under the limit is never refused for a few bytes.
RECORD_OVERHEAD_BYTES = 512
SEEN_CAP = 100_000  # coordinates remembered against re-publishing a re-read batch


@dataclass
class DlqMessage:
    letter: DeadLetter
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @property
    def coordinates(self) -> tuple[str, int, int]:
        r = self.letter.record
        return (r.topic, r.partition, r.offset)


def message_size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return len(key or b"") + len(value or b"") + sum(len(k) + len(v) for k, v in headers) + RECORD_OVERHEAD_BYTES


def dlq_message(letter: DeadLetter, consumer: str, max_bytes: int) -> DlqMessage:
    """The message for the DLQ topic: the original, or a reference when it would not fit."""
    record = letter.record
    headers = letter.headers(consumer)
    value = record.value or b""
    if message_size(record.key, value, headers) <= max_bytes:
        return DlqMessage(letter, record.key, record.value, headers)  # unchanged (a tombstone stays null)
    digest = hashlib.sha256(value).hexdigest()
    reference = {
        "dlq_body_omitted": True,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "size": len(value),
        "sha256": digest,
    }
    extra = {"dlq_body_omitted": "true", "dlq_body_size": str(len(value)), "dlq_body_sha256": digest}
    headers = [(k, v) for k, v in headers if k not in extra] + [(k, v.encode()) for k, v in extra.items()]
    if message_size(record.key, b"", headers) > max_bytes:  # even the headers are too large: keep the contract's
        headers = [(k, v) for k, v in headers if k.startswith("dlq_") or k.startswith("ce_")]
    return DlqMessage(letter, record.key, json.dumps(reference).encode(), headers)


class DeadLetterPublisher:
    def __init__(
        self,
        topic: str,
        consumer: str,
        log_consumer: str,
        sessions: async_sessionmaker[AsyncSession],
        producer_factory: Callable[[], AIOKafkaProducer],
        *,
        max_message_bytes: int,
        attempts: int = 3,
        backoff_s: float = 0.5,
        send_timeout_s: float = 15.0,
    ) -> None:
        self.topic = topic
        self.consumer = consumer  # the dlq_consumer header: the consumer group
        self.log_consumer = log_consumer  # the DLQ log's consumer column (the inbox's name)
        self.sessions = sessions
        self.producer_factory = producer_factory
        self.max_message_bytes = max_message_bytes
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.send_timeout_s = send_timeout_s
        self.published_total = 0
        self.kept_total = 0
        self._seen: OrderedDict[tuple[str, int, int], None] = OrderedDict()
        self._producer: AIOKafkaProducer | None = None

    async def publish(self, dead: list[DeadLetter]) -> None:
        """Publish what this process has not published yet; keep in the database what the
        topic will not take. Never raises for a publish failure."""
        messages = [dlq_message(d, self.consumer, self.max_message_bytes) for d in dead]
        todo = [m for m in messages if m.coordinates not in self._seen]
        last_error: dict[tuple[str, int, int], str] = {}
        for attempt in range(1, self.attempts + 1):
            if not todo:
                break
            failed = await self._send(todo)
            for m, exc in failed:
                last_error[m.coordinates] = f"{type(exc).__name__}: {exc}"[:1000]
            failed_ids = {id(m) for m, _ in failed}
            sent = [m for m in todo if id(m) not in failed_ids]
            self._remember(sent)
            self.published_total += len(sent)
            todo = [m for m, _ in failed]
            if todo and attempt < self.attempts:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
        if todo:
            await self._keep(todo, last_error)
            self._remember(todo)

    async def _send(self, messages: list[DlqMessage]) -> list[tuple[DlqMessage, BaseException]]:
        """Send all, wait for every acknowledgement; returns those that failed."""
        try:
            producer = await self._producer_started()
        except Exception as exc:
            return [(m, exc) for m in messages]
        futures: list[Any] = []
        failed: list[tuple[DlqMessage, BaseException]] = []
        for m in messages:
            try:
                futures.append((m, await producer.send(self.topic, value=m.value, key=m.key, headers=m.headers)))
            except Exception as exc:  # refused before it was queued (e.g. larger than the request)
                failed.append((m, exc))
        results = await asyncio.gather(
            *(asyncio.wait_for(f, self.send_timeout_s) for _, f in futures), return_exceptions=True
        )
        failed += [(m, r) for (m, _), r in zip(futures, results, strict=True) if isinstance(r, BaseException)]
        if failed:
            await self.close()  # a fresh producer for the next attempt
        return failed

    async def _producer_started(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self.producer_factory()
            await producer.start()
            self._producer = producer
        return self._producer

    def _remember(self, messages: list[DlqMessage]) -> None:
        for m in messages:
            self._seen[m.coordinates] = None
        while len(self._seen) > SEEN_CAP:
            self._seen.popitem(last=False)

    async def _keep(self, messages: list[DlqMessage], errors: dict[tuple[str, int, int], str]) -> None:
        """The DLQ log row of each (written with the batch) now holds the original message."""
        async with self.sessions() as session:
            for m in messages:
                r = m.letter.record
                original = [[k, v.decode("utf-8", errors="replace")] for k, v in (r.headers or [])]
                error = errors.get(m.coordinates, "not published")
                values: dict[str, Any] = {
                    "published": False,
                    "publish_error": error,
                    "message_key": r.key,
                    "message_value": r.value,
                    "message_headers": original,
                }
                result = await session.execute(
                    update(DlqRecord)
                    .where(
                        DlqRecord.consumer == self.log_consumer,  # type: ignore[arg-type]
                        DlqRecord.topic == r.topic,  # type: ignore[arg-type]
                        DlqRecord.partition == r.partition,  # type: ignore[arg-type]
                        DlqRecord.offset == r.offset,  # type: ignore[arg-type]
                    )
                    .values(**values)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    row = DlqRecord(
                        at=datetime.now(UTC),
                        consumer=self.log_consumer,
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        event_id=m.letter.event_id,
                        error=m.letter.error,
                        attempts=m.letter.attempts,
                    )
                    for name, value in values.items():
                        setattr(row, name, value)
                    session.add(row)
            await session.commit()
        self.kept_total += len(messages)
        log.error(
            "dead letters kept in the database: the DLQ topic did not take them",
            extra={"count": len(messages), "error": next(iter(errors.values()), "")},
        )

    async def close(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
