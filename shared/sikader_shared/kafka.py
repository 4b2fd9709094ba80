"""aiokafka clients: producer (acks=all), admin (topic creation, cluster facts)."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from sikader_shared.partitioner import partition_for
from sikader_shared.settings import ServiceSettings

log = logging.getLogger(__name__)


PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


def _ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol:
        return None
    context = ssl.create_default_context(cafile=settings.kafka_ssl_cafile or None)
    if settings.kafka_ssl_certfile:
        context.load_cert_chain(settings.kafka_ssl_certfile, settings.kafka_ssl_keyfile or None)
    return context


def security_kwargs(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka keyword arguments for the configured security (SASL and/or TLS)."""
    protocol = settings.kafka_security_protocol.upper()
    if protocol not in PROTOCOLS:
        raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}")
    kwargs: dict[str, Any] = {"security_protocol": protocol}
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if protocol.startswith("SASL"):
        if settings.kafka_sasl_mechanism not in MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}")
        kwargs.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
        )
    return kwargs


def faststream_security(settings: ServiceSettings) -> BaseSecurity | None:
    """The same security for FastStream's KafkaBroker."""
    protocol = settings.kafka_security_protocol.upper()
    context = _ssl_context(settings)
    if protocol == "PLAINTEXT":
        return None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    user, password, tls = settings.kafka_sasl_username, settings.kafka_sasl_password, protocol == "SASL_SSL"
    classes = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return classes[settings.kafka_sasl_mechanism](user, password, ssl_context=context, use_ssl=tls)


def producer_for(settings: ServiceSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        **security_kwargs(settings),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=f"sikader-{settings.service_name}",
        acks="all",
        # Off only on Tansu (it has no InitProducerId); consumers dedupe by ce_id anyway.
        enable_idempotence=settings.producer_idempotence,
        linger_ms=2,
        partitioner=partition_for,  # the default partitioner's answers, computed faster
        request_timeout_ms=10000,
        retry_backoff_ms=200,
    )


def admin_for(
    bootstrap: str, client: str = "sikader-admin", settings: ServiceSettings | None = None
) -> AIOKafkaAdminClient:
    extra = security_kwargs(settings) if settings is not None else {}
    return AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=client, request_timeout_ms=5000, **extra)


async def ensure_topics(
    bootstrap: str,
    names: Iterable[str],
    partitions: int,
    replication_factor: int = 1,
    settings: ServiceSettings | None = None,
) -> list[str]:
    """Create the topics that are missing; returns those it created."""
    admin = admin_for(bootstrap, settings=settings)
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
            await wait_listed(admin, missing)
            log.info("topics created", extra={"topics": missing})
        return missing
    finally:
        await admin.close()


async def wait_listed(admin: AIOKafkaAdminClient, names: Iterable[str], timeout: float = 15.0) -> bool:
    """Until the brokers' metadata lists `names`. Apache Kafka answers CreateTopics once the
    controller has the topic; a broker's metadata follows a moment later, and a client that
    looks in between (a topic check, the service's epoch marker) would find it missing."""
    wanted = set(names)
    deadline = asyncio.get_running_loop().time() + timeout
    while not wanted <= set(await admin.list_topics()):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def list_topics(bootstrap: str) -> set[str]:
    admin = admin_for(bootstrap)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()
