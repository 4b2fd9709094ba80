"""The examples' Kafka security settings on the secure broker (SASL/SCRAM-SHA-512 over TLS, with
ACLs): each example, as an agency's principal created by the operator's tooling, with a group
under the agency's `opd.<client>.` prefix, reads and processes an event from
sikader.certification.v1. (The full run on the test stack, in test_examples.py, is PLAINTEXT.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from sikader_shared import topics
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for
from tests.examples.runners import EXAMPLE_LIST, SCHEMA_DIR, Running
from tests.examples.test_examples import built
from tests.kafka_access.conftest import SecureKafka, running_secure_kafka
from tests.notifications.support import expiring

pytestmark = [pytest.mark.examples, pytest.mark.integration, pytest.mark.timeout(300)]
CLIENT = "dinkes"
EXPIRING = "sikader.certification.CertificateExpiring.v1"


@pytest.fixture(scope="module")
def secure_broker() -> Iterator[SecureKafka]:
    with running_secure_kafka("sikader-examples-secure-") as kafka:
        yield kafka


async def _publish_as_admin(kafka: SecureKafka) -> str:
    """sikader.certification.v1 created, one CertificateExpiring on it (no API call to make)."""
    admin_kwargs = kafka.client_kwargs(kafka.security.admin_user, kafka.security.admin_password)
    admin = AIOKafkaAdminClient(**admin_kwargs)
    await admin.start()
    try:
        if topics.CERTIFICATION not in await admin.list_topics():
            await admin.create_topics([NewTopic(topics.CERTIFICATION, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    event = expiring(str(uuid.uuid4()))
    envelope = envelope_for(event, service="certification")
    key, value, headers = as_message(event, envelope)
    producer = AIOKafkaProducer(**admin_kwargs, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.CERTIFICATION, value=value, key=key, headers=headers)
    finally:
        await producer.stop()
    return envelope.id


async def test_each_example_consumes_as_an_agency_over_sasl_ssl(secure_broker: SecureKafka, tmp_path: Path) -> None:
    for example in EXAMPLE_LIST:
        built(example)
    account = secure_broker.admin().add_agency(CLIENT)  # what `sikader-<service> kafka agency add` runs
    ce_id = await _publish_as_admin(secure_broker)
    running: list[Running] = []
    try:
        for example in EXAMPLE_LIST:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": secure_broker.bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": account["username"],
                "KAFKA_SASL_PASSWORD": account["password"],
                "KAFKA_SSL_CAFILE": secure_broker.cafile,
                "KAFKA_GROUP_ID": f"{account['group_prefix']}{example.name}-example",
                "SIKADER_API_URL": "http://127.0.0.1:9",  # not called for this event type
                "SIKADER_API_KEY": "unused",
                "SIKADER_SCHEMA_DIR": str(SCHEMA_DIR),
                "WEBHOOK_PORT": str(free_port()),
                "WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "STATE_FILE": str(tmp_path / f"{example.name}-processed-ids.txt"),
            }
            running.append(Running(example, env, tmp_path / f"{example.name}.log").start())
        for run in running:

            async def processed(run: Running = run) -> Any:
                assert run.alive(), f"{run.example.name} example exited:\n{run.tail()}"
                return run.find(event="processed", via="kafka", ce_id=ce_id, ce_type=EXPIRING)

            try:
                await eventually(processed, f"{run.example.name} over SASL_SSL", timeout=60, interval=0.2)
            except AssertionError:
                raise AssertionError(f"{run.example.name} example:\n{run.tail()}") from None
    finally:
        for run in running:
            run.stop()
