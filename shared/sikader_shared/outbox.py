"""The outbox relay: publishes committed outbox rows in commit (sequence) order, with
acks=all, and marks them published. Rows are retained after publishing (for re-publishing
after a broker reset, or on demand from a date)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from aiokafka import AIOKafkaProducer
from sqlalchemy import Select, Table, delete, func, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.aio import sleep_or_stop, wait_any
from sikader_shared.clock import Clock
from sikader_shared.db import OutboxRecord
from sikader_shared.envelope import encode_headers

log = logging.getLogger(__name__)
OUTBOX: Table = OutboxRecord.__table__  # type: ignore[attr-defined]

OUTBOX_LOCK_KEY = 0x51CADE  # advisory lock id; each service has its own database


def unpublished_batch(limit: int) -> Select[tuple[int, str, str, dict[str, str], str]]:
    """The next `limit` unpublished rows in commit (seq) order.

    Ordered by (published_at, seq), the unpublished index's own order (published_at is NULL in
    every row it returns, so this is seq order) and read straight from that index (see
    lead_publishing): with ORDER BY seq PostgreSQL walked the primary key past every published
    row, or sorted the whole backlog, whose cost grew with the backlog an import leaves."""
    return (
        sa_select(OUTBOX.c.seq, OUTBOX.c.topic, OUTBOX.c.key, OUTBOX.c.headers, OUTBOX.c.payload)
        .where(OUTBOX.c.published_at.is_(None))
        .order_by(OUTBOX.c.published_at, OUTBOX.c.seq)
        .limit(limit)
    )


async def lead_publishing(session: AsyncSession) -> bool:
    """Whether this transaction may publish the next batch. On PostgreSQL, one relay per
    database at a time (a transaction-scoped advisory lock, held for one batch), so that
    several replicas of a service keep the commit order and do not publish a batch twice. The
    same transaction turns sorting off: the batch query must read the unpublished index in
    order, and with the statistics an import leaves behind (taken while the table was small)
    the planner would rather sort the whole backlog. SQLite is single-writer anyway."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    got = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:k) AND set_config('enable_sort', 'off', true) = 'off'"),
        {"k": OUTBOX_LOCK_KEY},
    )
    return bool(got)


class OutboxRelay:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        producer_factory: Callable[[], AIOKafkaProducer],
        clock: Clock,
        *,
        batch_size: int = 2000,
        idle_poll_s: float = 1.0,
        retention_days: int | None = None,
        bulk_pause_s: float = 1.0,
    ) -> None:
        self._sessions = sessions
        self._producer_factory = producer_factory
        self._clock = clock
        self.batch_size = batch_size
        self.idle_poll_s = idle_poll_s
        self.retention_days = retention_days
        self.bulk_pause_s = bulk_pause_s
        self.signal = asyncio.Event()
        self._bulk_requests = 0
        self._following = False  # the last try found another replica's relay publishing
        self._no_bulk = asyncio.Event()
        self._no_bulk.set()
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        self.published_total = 0
        self.last_error: str | None = None

    async def _get_producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = self._producer_factory()
            try:
                await producer.start()
            except Exception:
                await producer.stop()
                raise
            self._producer = producer
        return self._producer

    async def reset_producer(self) -> None:
        """Drop the producer (its metadata may be stale after a broker reset)."""
        async with self._lock:
            await self._drop_producer()

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), 5)
            except Exception:
                log.warning("producer stop failed", exc_info=True)

    @contextmanager
    def yielding_to_bulk(self) -> Iterator[None]:
        """Mark a bulk request (an import of 10,000s of rows) in progress: meanwhile the relay
        publishes one batch per `bulk_pause_s` instead of as fast as it can. The request and the
        relay share one event loop and one core, and the events queued behind the import's
        wait for its events anyway (commit order), so the import finishes first and the relay
        then drains at full speed."""
        self._bulk_requests += 1
        self._no_bulk.clear()
        try:
            yield
        finally:
            self._bulk_requests -= 1
            if not self._bulk_requests:
                self._no_bulk.set()

    async def publish_pending(self) -> int:
        """Publish one batch of unpublished rows; returns how many were published."""
        async with self._lock, self._sessions() as session:
            self._following = not await lead_publishing(session)
            if self._following:
                return 0  # another replica's relay is publishing this database's outbox
            # Plain rows, not ORM objects: this loop publishes every event of the service.
            records: list[tuple[int, str, str, dict[str, str], str]] = (
                await session.execute(unpublished_batch(self.batch_size))
            ).all()  # type: ignore[assignment]
            if not records:
                return 0
            producer = await self._get_producer()
            send = producer.send
            futures = [
                await send(topic, value=payload.encode(), key=key.encode(), headers=encode_headers(headers))
                for _, topic, key, headers, payload in records
            ]
            await asyncio.gather(*futures)
            await session.execute(
                update(OUTBOX).where(OUTBOX.c.seq.in_([r[0] for r in records])).values(published_at=self._clock.now())
            )
            await session.commit()
            self.published_total += len(records)
            return len(records)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.2
        while not stop.is_set():
            # Cleared before looking, so a commit made while this loop publishes wakes it again.
            self.signal.clear()
            try:
                while await self.publish_pending():
                    if self._bulk_requests:
                        await wait_any(self._no_bulk, stop, timeout=self.bulk_pause_s)
                backoff = 0.2
                self.last_error = None
                await self._purge_expired()
            except Exception as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("outbox relay: publish failed, retrying", extra={"error": self.last_error})
                await self._drop_producer()
                await sleep_or_stop(stop, backoff + random.uniform(0, backoff / 2))
                backoff = min(backoff * 2, 10.0)
                continue
            # Wake as soon as a transaction commits; the timeout only catches rows written by
            # other processes (the CLI, another replica) and is not on the hot path. A replica
            # that found the other relay publishing looks again soon: its own commits may have
            # come after the other relay's last batch.
            try:
                await asyncio.wait_for(self.signal.wait(), timeout=0.05 if self._following else self.idle_poll_s)
            except TimeoutError:
                pass
        await self._drop_producer()

    async def _purge_expired(self) -> None:
        if self.retention_days is None:
            return
        cutoff = self._clock.now() - timedelta(days=self.retention_days)
        async with self._sessions() as session:
            await session.execute(
                delete(OutboxRecord).where(
                    col(OutboxRecord.published_at).is_not(None),
                    col(OutboxRecord.published_at) < cutoff,
                )
            )
            await session.commit()

    async def mark_for_republish(self, since: datetime | None = None) -> int:
        """Queue retained rows (all, or those created since `since`) to be published again."""
        async with self._sessions() as session:
            stmt = update(OutboxRecord).values(published_at=None)
            if since is not None:
                stmt = stmt.where(col(OutboxRecord.created_at) >= since)
            result = await session.execute(stmt)
            await session.commit()
        self.signal.set()
        return int(getattr(result, "rowcount", 0) or 0)

    async def backlog(self) -> int:
        async with self._sessions() as session:
            value = await session.scalar(
                sa_select(func.count()).select_from(OutboxRecord).where(col(OutboxRecord.published_at).is_(None))
            )
            return int(value or 0)
