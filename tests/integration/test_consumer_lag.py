"""Consumer lag from the broker (end offsets against the group's committed offsets, on a timer)
and stalled partitions: a consumer that cannot advance shows its backlog, is reported in the
/health/ready body and counted in sikader_consumer_stalled_partitions, and the status stays 200
(issue 13 item 3, issue 14 item 1). The stall is caused by a database error injected into the
consumer's batch (an infrastructure error: the batch is re-read, never dead-lettered)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from sikader_shared import topics
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for, publish_raw
from sikader_shared.testing.samples import cadre_registered
from tests.conftest import settings_for
from tests.support.probe import ProbeSettings
from tests.support.probe import definition as probe_definition

pytestmark = pytest.mark.integration


async def ready_body(probe: Any) -> tuple[int, dict[str, Any], str]:
    async with probe.client() as client:
        r = await client.get("/health/ready")
        metrics = (await client.get("/metrics")).text
    return r.status_code, r.json(), metrics


def stalled_metric(metrics: str) -> float:
    found = re.search(r"^sikader_consumer_stalled_partitions\s+([0-9.e+]+)$", metrics, re.M)
    assert found, "sikader_consumer_stalled_partitions missing"
    return float(found.group(1))


async def test_a_consumer_that_cannot_advance_shows_its_lag_and_is_reported_stalled(
    broker: Any, databases: Any, run_service: Any
) -> None:
    settings = settings_for(
        ProbeSettings, broker, databases("probe"), consumer_lag_interval_s=0.3, consumer_stall_after_s=2.0
    )
    probe = await run_service(probe_definition(settings))
    consumer = probe.runtime.consumer
    real_process = consumer.process

    async def database_away(records: Any) -> Any:
        raise OSError("injected: the database is away")

    consumer.process = database_away  # type: ignore[method-assign]
    events = [cadre_registered(i) for i in range(5)]
    await publish_raw(
        broker.bootstrap, topics.CADRE, [(b"k", *as_message(e, envelope_for(e, "registry"))[1:]) for e in events]
    )

    async def reported_stalled() -> bool:
        status, body, metrics = await ready_body(probe)
        stalled = body["consumer"]["stalled_partitions"]
        return status == 200 and len(stalled) == 1 and stalled_metric(metrics) == 1.0

    await eventually(reported_stalled, timeout=30)
    status, body, _ = await ready_body(probe)
    assert status == 200 and body["status"] == "ready"  # the contract: readiness stays 200
    [stalled] = body["consumer"]["stalled_partitions"]
    assert stalled["topic"] == topics.CADRE and stalled["lag"] == 5 and stalled["stalled_s"] > 2.0
    assert body["consumer"]["lag"] == 5 and body["consumer"]["lag_by_topic"][topics.CADRE] == 5

    consumer.process = real_process  # type: ignore[method-assign]

    async def caught_up() -> bool:
        status, body, metrics = await ready_body(probe)
        c = body["consumer"]
        return status == 200 and c["lag"] == 0 and c["stalled_partitions"] == [] and stalled_metric(metrics) == 0

    await eventually(caught_up, timeout=30)
