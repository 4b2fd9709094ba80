"""Acknowledged writes to every partition of a probe topic (replication factor 3, acks=all,
idempotent), a few a second, through a broker fault: the longest time a partition went
without a successful write is what a producer (a service's outbox relay) lived through."""

from __future__ import annotations

import asyncio
import itertools
import time

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

PROBE_TOPIC = "sikader.faults.write-probe"


class WriteProbe:
    def __init__(self, bootstrap: str, partitions: int = 6, interval: float = 0.1) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.interval = interval
        self.acks: dict[int, list[float]] = {p: [] for p in range(partitions)}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._producer: AIOKafkaProducer | None = None

    async def start(self, replication_factor: int) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(PROBE_TOPIC, self.partitions, replication_factor)])
        finally:
            await admin.close()
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True, request_timeout_ms=5000
        )
        await self._producer.start()
        self._tasks = [asyncio.create_task(self._write(p)) for p in range(self.partitions)]

    async def _write(self, partition: int) -> None:
        assert self._producer is not None
        n = 0
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(
                    self._producer.send_and_wait(PROBE_TOPIC, str(n).encode(), partition=partition), 10
                )
                self.acks[partition].append(time.monotonic())
                n += 1
            except Exception:
                pass  # not acknowledged: the gap grows until a write succeeds again
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval)
            except TimeoutError:
                pass

    def longest_gap(self, t1: float, t2: float) -> float:
        """The longest time any partition went without an acknowledged write within [t1, t2]."""
        worst = 0.0
        for acks in self.acks.values():
            before = [t for t in acks if t < t1]
            inside = [t for t in acks if t1 <= t <= t2]
            points = [before[-1] if before else t1, *inside, next((t for t in acks if t > t2), t2)]
            worst = max(worst, max(b - a for a, b in itertools.pairwise(points)))
        return round(worst, 2)

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()
