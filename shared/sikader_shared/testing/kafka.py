"""Publish raw messages and wait for events on a topic, for tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from sikader_shared.envelope import Envelope, encode_headers, headers_to_dict, new_envelope
from sikader_shared.events.base import Event


async def publish_raw(
    bootstrap: str,
    topic: str,
    messages: list[tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """Publish (key, value, headers) triples, acks=all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k, headers=h) for k, v, h in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def envelope_for(event: Event, service: str = "test", actor: str = "test") -> Envelope:
    from datetime import UTC, datetime

    return new_envelope(
        service=service, ce_type=event.ce_type(), subject=event.aggregate_id(), time=datetime.now(UTC), actor=actor
    )


def as_message(event: Event, envelope: Envelope) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    return (
        event.aggregate_id().encode(),
        json.dumps(event.to_json_dict()).encode(),
        encode_headers(envelope.headers()),
    )


async def read_topic(bootstrap: str, topic: str, idle_polls: int = 2) -> list[ConsumerRecord[bytes, bytes]]:
    """Everything currently on `topic`, from the beginning of every partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[ConsumerRecord[bytes, bytes]] = []
        idle = 0
        while idle < idle_polls:
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            if not batch:
                idle += 1
                continue
            idle = 0
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def wait_for(
    bootstrap: str,
    topic: str,
    predicate: Callable[[ConsumerRecord[bytes, bytes]], bool],
    timeout: float = 20.0,
    count: int = 1,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Wait until `count` records on `topic` satisfy `predicate`; returns them."""
    deadline = time.monotonic() + timeout
    found: list[ConsumerRecord[bytes, bytes]] = []
    while time.monotonic() < deadline:
        found = [r for r in await read_topic(bootstrap, topic, idle_polls=1) if predicate(r)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{len(found)}/{count} matching records on {topic} after {timeout}s")


def headers_of(record: ConsumerRecord[Any, Any]) -> dict[str, str]:
    return headers_to_dict(record.headers)


def of_type(ce_type: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    return lambda r: headers_of(r).get("ce_type") == ce_type
