"""Two incentives instances in one consumer group (two replicas on one database), one SIGKILLed
in the middle of a batch: the survivor takes over the dead one's partitions once its session
expires, nothing is applied twice, and the lag the survivor measures from the broker reaches 0."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import func, select

from incentives.adapters.tables import CertificateRow
from sikader_shared import topics
from sikader_shared.db import InboxRecord, make_engine
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for, publish_raw
from sikader_shared.testing.samples import cadre_certified
from tests.conftest import subprocess_env

pytestmark = pytest.mark.integration

N = 6000
GROUP = "sikader-incentives"


async def group_members(bootstrap: str) -> list[dict[str, Any]]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([GROUP])
        [group] = response.to_object()["groups"]
        return list(group["members"])
    finally:
        await admin.close()


async def test_the_survivor_takes_over_after_a_sigkill_mid_batch(
    broker: Any, databases: Any, run_subprocess: Any, tmp_path: Path
) -> None:
    url = databases("incentives")
    env = subprocess_env("incentives", broker, url, tmp_path)
    env["SIKADER_INCENTIVES_CONSUMER_MAX_RECORDS"] = "100"  # many small batches: the kill lands in one
    env["SIKADER_CONSUMER_LAG_INTERVAL_S"] = "0.5"
    first = await run_subprocess("incentives", env)
    second = await run_subprocess("incentives", env, migrate=False)

    async def both_joined() -> bool:
        return len(await group_members(broker.bootstrap)) == 2

    await eventually(both_joined, timeout=30)

    events = [cadre_certified(i, id_base=7 * 10**9) for i in range(N)]
    messages = [as_message(e, envelope_for(e)) for e in events]
    # Half before the kill, half after: however fast the first half goes, the dead instance's
    # partitions hold events only the survivor can take, once the broker expires its session.
    await publish_raw(broker.bootstrap, topics.CERTIFICATION, messages[: N // 2])

    engine = make_engine(url)
    try:

        async def count(table: Any) -> int:
            async with engine.connect() as conn:
                return int(await conn.scalar(select(func.count()).select_from(table)) or 0)

        async def some_applied() -> bool:
            return await count(InboxRecord) > N // 20

        await eventually(some_applied, timeout=60, interval=0.01)
        first.kill()  # SIGKILL: no LeaveGroup, maybe a batch in flight; the broker notices at session expiry
        killed_at = time.monotonic()
        at_kill = await count(InboxRecord)
        await publish_raw(broker.bootstrap, topics.CERTIFICATION, messages[N // 2 :])

        async def all_applied() -> bool:
            return await count(InboxRecord) == N

        await eventually(all_applied, timeout=90)
        took_over_s = time.monotonic() - killed_at

        async def lag_zero() -> bool:
            async with httpx.AsyncClient(timeout=5) as client:
                body = (await client.get(f"{second.url}/health/ready")).json()
            consumer = body["consumer"]
            return bool(consumer["lag"] == 0 and consumer["lag_by_topic"].get(topics.CERTIFICATION) == 0)

        await eventually(lag_zero, timeout=30)
        members = await group_members(broker.bootstrap)
        assert len(members) == 1, members  # only the survivor is left in the group

        # Nothing applied twice: one inbox row and one certificate per event; the survivor
        # skipped what the killed instance had committed but not yet acknowledged to Kafka.
        assert await count(InboxRecord) == N
        assert await count(CertificateRow) == N
        async with httpx.AsyncClient(timeout=5) as client:
            metrics = (await client.get(f"{second.url}/metrics")).text
        lags = [line for line in metrics.splitlines() if line.startswith("sikader_consumer_lag{")]
        assert lags and all(line.endswith(" 0.0") for line in lags), lags
        print(json.dumps({"applied_at_kill": at_kill, "all_applied_after_kill_s": round(took_over_s, 2)}))
    finally:
        await engine.dispose()
