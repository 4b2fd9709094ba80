"""Consumer lag from the broker, on a timer: for each partition of the consumed topics, the end
offset minus the group's committed offset. Measured this way an idle consumer still shows its
backlog (a lag taken from the last fetched batch stays frozen when nothing is fetched).

A partition is *stalled* when it has records pending and its committed offset has not moved for
longer than `stall_after_s`: a consumer stuck on one partition is reported (readiness body and
`sikader_consumer_stalled_partitions`) instead of staying silently behind."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from sikader_shared.kafka import admin_for, security_kwargs
from sikader_shared.settings import ServiceSettings


@dataclass
class PartitionLag:
    committed: int  # -1: nothing committed yet (the group starts from the beginning)
    end: int
    since: float  # monotonic time the committed offset last moved (or lag became 0)

    @property
    def lag(self) -> int:
        return max(0, self.end - max(self.committed, 0))


@dataclass
class LagMonitor:
    settings: ServiceSettings
    group_id: str
    topics: list[str]
    clock: Callable[[], float] = time.monotonic
    partitions: dict[tuple[str, int], PartitionLag] = field(default_factory=dict)
    checked_at: float | None = None
    _consumer: AIOKafkaConsumer | None = None
    _admin: AIOKafkaAdminClient | None = None

    async def check(self) -> None:
        """One measurement. Raises on a broker error (the caller logs and tries again later)."""
        consumer = await self._offsets_client()
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        if not tps:
            return
        ends = await consumer.end_offsets(tps)
        committed = await (await self._admin_client()).list_consumer_group_offsets(self.group_id, partitions=tps)
        now = self.clock()
        seen = set()
        for tp in tps:
            key = (tp.topic, tp.partition)
            seen.add(key)
            offset = committed[tp].offset if tp in committed else -1
            before = self.partitions.get(key)
            state = PartitionLag(offset, ends.get(tp, 0), now)
            if before is not None and before.committed == offset and state.lag > 0:
                state.since = before.since  # not advanced since then
            self.partitions[key] = state
        for key in set(self.partitions) - seen:
            del self.partitions[key]
        self.checked_at = now

    async def _offsets_client(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap_servers,
                client_id=f"sikader-{self.group_id}-lag",
                enable_auto_commit=False,
                request_timeout_ms=5000,
                **security_kwargs(self.settings),
            )
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            admin = admin_for(self.settings.kafka_bootstrap_servers, f"sikader-{self.group_id}-lag", self.settings)
            await admin.start()
            self._admin = admin
        return self._admin

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        admin, self._admin = self._admin, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()

    def stalled(self) -> list[dict[str, Any]]:
        now = self.clock()
        limit = self.settings.consumer_stall_after_s
        return [
            {"topic": t, "partition": p, "lag": s.lag, "committed": s.committed, "stalled_s": round(now - s.since, 1)}
            for (t, p), s in sorted(self.partitions.items())
            if s.lag > 0 and now - s.since > limit
        ]

    def total(self) -> int:
        return sum(s.lag for s in self.partitions.values())

    def by_topic(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for (topic, _), s in self.partitions.items():
            out[topic] = out.get(topic, 0) + s.lag
        return out
