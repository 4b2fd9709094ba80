"""The three-broker override (deploy/compose.cluster.yml) brought up for real: `make
test-compose-cluster` (marker `compose_cluster`, opt-in; not in CI's budget). The same images as
`make test-compose` (Apache Kafka built locally from the Maven jars, with the official image's
interface), KAFKA_IMAGE pointing the three nodes at it.

What it checks: the three brokers and everything else become healthy; every contract topic has
replication factor 3 and min.insync.replicas 2 (kafka-topics.sh / kafka-configs.sh inside a
node); the quorum has three voters and a leader (kafka-metadata-quorum.sh); a key issued with
the CLI is accepted everywhere; with one broker stopped, a Posyandu registered through the API is
published and the services stay ready; the broker comes back healthy; `down -v` leaves nothing."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sikader_shared import topics
from sikader_shared.local_kafka import kafka_version
from tests.deploy.support import CLUSTER, COMPOSE, LOCAL, SERVICES
from tests.deploy.test_compose import (
    LONG_RUNNING,
    Engine,
    Stack,
    _call,
    _eventually,
    _get,
    _issue_key,
    _key_accepted_everywhere,
    _wait_ready,
    up_stack,
)
from tests.deploy.test_compose import engine as engine

pytestmark = [pytest.mark.compose_cluster, pytest.mark.timeout(1800)]

NODES = ("kafka", "kafka-2", "kafka-3")


@pytest.fixture(scope="module")
def cluster_stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    yield from up_stack(
        engine,
        tmp_path_factory,
        "compose-cluster",
        files=(COMPOSE, CLUSTER, LOCAL),
        long_running=(*LONG_RUNNING, "kafka-2", "kafka-3"),
        settings={
            "KAFKA_IMAGE": f"localhost/sikader-kafka:{kafka_version()}",
            "KAFKA_HEAP_OPTS": "-Xms256m -Xmx512m",
        },
    )


def _in_kafka(stack: Stack, *cmd: str, node: str = "kafka") -> str:
    out = stack.compose("exec", "-T", "-e", "KAFKA_HEAP_OPTS=-Xmx128m", node, *cmd, timeout=180)
    return str(out.stdout)


def test_three_brokers_replicate_every_topic(cluster_stack: Stack) -> None:
    quorum = _in_kafka(cluster_stack, "kafka-metadata-quorum.sh", "--bootstrap-server", "kafka:9092",
                       "describe", "--status")  # fmt: skip
    assert "LeaderId:" in quorum and "CurrentVoters:" in quorum, quorum
    voters = quorum.split("CurrentVoters:")[1].splitlines()[0]
    assert all(f'"id": {n}' in voters or f'"id":{n}' in voters for n in (1, 2, 3)), voters
    described = _in_kafka(cluster_stack, "kafka-topics.sh", "--bootstrap-server", "kafka:9092", "--describe")
    for name in topics.all_topic_names():
        line = next((x for x in described.splitlines() if x.startswith(f"Topic: {name}\t")), "")
        assert "ReplicationFactor: 3" in line and "min.insync.replicas=2" in line, (name, line)


def test_one_broker_down_writes_and_events_go_on(cluster_stack: Stack) -> None:
    stack = cluster_stack
    issued = _issue_key(stack, "cluster-smoke", ("registry:read", "registry:write"))
    _key_accepted_everywhere(stack, issued)
    key = issued["key"]

    stack.compose("stop", "--timeout", "30", "kafka-2", timeout=120)
    try:
        start = time.monotonic()
        status, body = _call(
            "POST",
            stack.url("registry", "/posyandu"),
            key,
            {
                "name": f"Posyandu Kluster {os.getpid()}",
                "kelurahan_code": "64.71.06.1002",
                "posyandu_type": "balita",
                "rt": "003",
                "puskesmas": "Puskesmas Klandasan Ilir",
            },
        )
        assert status == 201, body

        def published() -> tuple[bool, Any]:
            _, ready = _get(stack.url("registry", "/health/ready"))
            return isinstance(ready, dict) and ready.get("outbox_backlog") == 0, ready

        _eventually(published, "the registry's outbox published with one broker down", timeout=120)
        print(f"published with kafka-2 down after {time.monotonic() - start:.1f} s")
        for service in SERVICES:
            assert _get(stack.url(service, "/health/ready"))[0] == 200
    finally:
        stack.compose("start", "kafka-2", timeout=120)
    _wait_ready(stack)
