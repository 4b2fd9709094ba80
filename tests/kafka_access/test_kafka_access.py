"""Issue 16 item 5: broker access per agency and per service on a secure Apache Kafka
(SASL/SCRAM-SHA-512 over TLS, StandardAuthorizer). An agency's principal reads the public
topics with its own groups and is refused everything else; a service runs end to end with its
own principal."""

from __future__ import annotations

import asyncio
import importlib
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from aiokafka.protocol.fetch import FetchRequest
from confluent_kafka import KafkaError as KafkaErrorCode

from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.auth import issue_key
from sikader_shared.cli import read_dlq
from sikader_shared.kafka_access import Grant, admin_config, agency_grants
from sikader_shared.testing.broker import TestBroker
from sikader_shared.testing.checks import eventually, ok
from sikader_shared.uow import Actor
from tests.conftest import settings_for
from tests.kafka_access.conftest import SecureKafka

pytestmark = [pytest.mark.kafka_access, pytest.mark.integration]

ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))
POSYANDU = {"name": "Posyandu Melati", "kelurahan_code": "64.71.06.1002", "posyandu_type": "balita"}

# -- on the secure broker -----------------------------------------------------------------------


async def _create_topics(kafka: SecureKafka, names: list[str]) -> None:
    security = kafka.security
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(security.admin_user, security.admin_password))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            await admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in missing])
    finally:
        await admin.close()


async def _produce(kafka: SecureKafka, user: str, password: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(**kafka.client_kwargs(user, password), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value=value, key=b"k")
    finally:
        await producer.stop()


async def _read_with_group(kafka: SecureKafka, user: str, password: str, topic: str, group: str) -> list[bytes]:
    """Subscribe as a member of `group`, read what is there and commit it."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.client_kwargs(user, password), group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
    )  # fmt: skip
    await consumer.start()
    try:
        batch = await asyncio.wait_for(consumer.getmany(timeout_ms=15000, max_records=10), 30)
        await consumer.commit()
        return [r.value or b"" for records in batch.values() for r in records]
    finally:
        await consumer.stop()


def _refusal(kafka: SecureKafka, user: str, password: str, topic: str, group: str) -> str:
    """The broker's answer to `user` subscribing to `topic` as a member of `group`, as
    librdkafka reports it: the error's name, or "" when a message came back."""
    from confluent_kafka import Consumer

    settings = {"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}
    consumer = Consumer({**admin_config(kafka.bootstrap, user, password, kafka.cafile), **settings})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return ""
            if error.code() != KafkaErrorCode._PARTITION_EOF:
                return str(error.name())
        return "timeout"
    finally:
        consumer.close()


async def _fetch_error(kafka: SecureKafka, user: str, password: str, topic: str) -> int:
    """A Fetch of partition 0 from offset 0, sent by `user` straight to the broker (no group,
    no metadata check on the client's side): the partition's error code (0: data came back)."""
    client = AIOKafkaClient(**kafka.client_kwargs(user, password))
    await client.bootstrap()
    try:
        node = next(iter(client.cluster.brokers())).nodeId
        request = FetchRequest(100, 1, 1 << 20, 0, [(topic, [(0, 0, 1 << 20)])])
        response = await client.send(node, request)
        return int(response.topics[0][1][0][1])
    finally:
        await client.close()


async def test_an_agency_reads_public_events_and_is_refused_the_rest(secure_kafka: SecureKafka) -> None:
    kafka, security = secure_kafka, secure_kafka.security
    await _create_topics(kafka, topics.all_topic_names())
    for topic in (topics.CERTIFICATION, topics.CADRE_PRIVATE, topics.AUTH, topics.dlq_topic("registry")):
        await _produce(kafka, security.admin_user, security.admin_password, topic, json.dumps({"on": topic}).encode())
    access = kafka.admin()
    # the operator's command, `sikader-registry kafka agency add --client dinkes`
    dinkes = kafka.cli("kafka", "agency", "add", "--client", "dinkes", module="registry.entrypoints.cli")
    bpbd = access.add_agency("bpbd")
    user, password = dinkes["username"], dinkes["password"]

    got = await _read_with_group(kafka, user, password, topics.CERTIFICATION, "opd.dinkes.certificates")
    assert got == [json.dumps({"on": topics.CERTIFICATION}).encode()]

    # the checks see a success as one
    assert await _fetch_error(kafka, user, password, topics.CERTIFICATION) == 0
    assert _refusal(kafka, user, password, topics.CERTIFICATION, "opd.dinkes.check") == ""
    for topic in (topics.CADRE_PRIVATE, topics.AUTH, topics.dlq_topic("registry")):
        assert await _fetch_error(kafka, user, password, topic) == TopicAuthorizationFailedError.errno, topic
        assert _refusal(kafka, user, password, topic, "opd.dinkes.x") == "TOPIC_AUTHORIZATION_FAILED", topic
    # another agency's group, and groups without the agency's prefix
    for group in ("opd.bpbd.certificates", "sikader-certification", "opd.dinkesx.y"):
        assert _refusal(kafka, user, password, topics.CERTIFICATION, group) == "GROUP_AUTHORIZATION_FAILED", group
    # never writes, not even to a topic it reads
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(kafka, user, password, topics.CERTIFICATION, b"{}")
    # a broader grant added by mistake does not open the auth topic (the DENY wins), and
    # `agency add` run again brings the ACLs back to the policy (with a new password)
    access.grant(user, [Grant("topic", topics.AUTH, "READ"), Grant("topic", topics.CADRE_PRIVATE, "READ")])
    assert await _fetch_error(kafka, user, password, topics.AUTH) == TopicAuthorizationFailedError.errno
    again = access.add_agency("dinkes")
    assert sorted(access.acls(user), key=str) == sorted(agency_grants("dinkes"), key=str)
    assert await _fetch_error(kafka, user, again["password"], topics.CERTIFICATION) == 0
    # the other agency reads with its own groups, and a removed agency cannot sign in

    assert await _read_with_group(kafka, bpbd["username"], bpbd["password"], topics.CERTIFICATION, "opd.bpbd.a")
    removed = access.remove_agency("bpbd")
    assert removed["acls_deleted"] == len(agency_grants("bpbd"))
    assert [a["client_id"] for a in access.list_agencies()] == ["dinkes"]
    with pytest.raises(KafkaError):
        await _read_with_group(kafka, bpbd["username"], bpbd["password"], topics.CERTIFICATION, "opd.bpbd.a")


async def _records(kafka: SecureKafka, topic: str) -> list[Any]:
    """Every record on `topic`, read by the admin."""
    security = kafka.security
    admin = kafka.client_kwargs(security.admin_user, security.admin_password)
    return await read_dlq(admin.pop("bootstrap_servers"), topic, security=admin)


async def test_a_service_runs_with_its_own_principal(
    secure_kafka: SecureKafka, databases: Callable[[str], str], run_service: Any
) -> None:
    kafka = secure_kafka
    password = secrets.token_urlsafe(16)
    created = kafka.cli("services", "setup", env={"SIKADER_REGISTRY_KAFKA_PASSWORD": password})
    assert [u["username"] for u in created] == [f"sikader-{s}" for s in topics.SERVICES]
    assert next(u for u in created if u["service"] == "registry")["password"] == "(from the environment)"
    registry_user = {"username": "sikader-registry", "password": password}
    principal = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": registry_user["username"],
        "kafka_sasl_password": registry_user["password"],
        "kafka_ssl_cafile": kafka.cafile,
    }
    settings = settings_for(
        RegistrySettings, TestBroker(kafka.bootstrap, "external"), databases("registry"), **principal
    )
    svc = await run_service(registry_definition(settings))
    runtime = svc.runtime
    await eventually(lambda: asyncio.sleep(0, runtime.broker_healthy.is_set()), "the broker watcher sees the topics")

    # it publishes: an API key's event (auth topic) and a Posyandu's (its own topic)
    async with runtime.uow(actor=ADMIN) as uow:
        _, key = await issue_key(uow, "dinsos", ["registry:read", "registry:write"])
        await uow.commit()
    async with svc.client(key) as client:
        ok(await client.post("/posyandu", json=POSYANDU), 201)
    for topic, ce_type in ((topics.AUTH, "ApiKeyIssued"), (topics.POSYANDU, "PosyanduRegistered")):

        async def published(topic: str = topic, ce_type: str = ce_type) -> bool:
            return any(ce_type in dict(r.headers).get("ce_type", b"").decode() for r in await _records(kafka, topic))

        await eventually(published, f"{ce_type} on {topic}")
    # it consumes with its group: the key's event is applied and its offsets are committed
    await eventually(lambda: asyncio.sleep(0, runtime.consumer.applied_total >= 1), "the consumer applied an event")
    assert runtime.group_id == "sikader-registry"
    # and it is refused what it does not own: another service's topic, an agency's group
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(kafka, registry_user["username"], registry_user["password"], topics.CERTIFICATION, b"{}")
    refused = _refusal(kafka, registry_user["username"], registry_user["password"], topics.CADRE, "opd.dinkes.x")
    assert refused == "GROUP_AUTHORIZATION_FAILED"


async def _group_state(kafka: SecureKafka, group: str) -> str:
    security = kafka.security
    admin = AIOKafkaAdminClient(**kafka.client_kwargs(security.admin_user, security.admin_password))
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
        return str(response.to_object()["groups"][0]["state"])
    finally:
        await admin.close()


async def _is_stable(kafka: SecureKafka, group: str) -> bool:
    return await _group_state(kafka, group) == "Stable"


@pytest.mark.parametrize("service", ["certification", "incentives", "notifications"])
async def test_every_other_service_starts_heals_and_joins_its_group_with_its_principal(
    secure_kafka: SecureKafka, databases: Callable[[str], str], run_service: Any, service: str
) -> None:
    kafka = secure_kafka
    password = secrets.token_urlsafe(16)
    kafka.cli("services", "setup", env={f"SIKADER_{service.upper()}_KAFKA_PASSWORD": password})
    settings_module = importlib.import_module(f"{service}.settings")
    (settings_cls,) = [c for n, c in vars(settings_module).items() if n.endswith("Settings") and n != "ServiceSettings"]
    principal = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": f"sikader-{service}",
        "kafka_sasl_password": password,
        "kafka_ssl_cafile": kafka.cafile,
    }
    settings = settings_for(settings_cls, TestBroker(kafka.bootstrap, "external"), databases(service), **principal)
    svc = await run_service(importlib.import_module(f"{service}.app").definition(settings))
    runtime = svc.runtime
    await eventually(lambda: asyncio.sleep(0, runtime.broker_healthy.is_set()), "the broker watcher sees the topics")
    assert runtime.broker_state["status"] == "up"
    group = f"sikader-{service}"
    await eventually(lambda: _is_stable(kafka, group), f"{group} joined, its partitions assigned", timeout=30)
