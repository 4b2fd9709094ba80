"""aiokafka clients: producer (acks=all), admin (topic creation, cluster facts)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from sikader_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def producer_for(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"sikader-{settings.service_name}",
        acks="all",
        # Off for the local broker (it has no InitProducerId); consumers dedupe by ce_id anyway.
        enable_idempotence=settings.producer_idempotence,
        linger_ms=2,
        request_timeout_ms=10000,
        retry_backoff_ms=200,
    )


def admin_for(bootstrap: str, client: str = "sikader-admin") -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client, request_timeout_ms=5000)


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, replication_factor: int = 1
) -> list[str]:
    """Create the topics that are missing; returns those it created."""
    admin = admin_for(bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                await admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=replication_factor) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another service won the race
            log.info("topics created", extra={"topics": missing})
        return missing
    finally:
        await admin.close()


async def list_topics(bootstrap: str) -> set[str]:
    admin = admin_for(bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
