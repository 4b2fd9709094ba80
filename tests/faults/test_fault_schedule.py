"""Issue 9, item 1: the four services as separate processes, each on its own database on a
PostgreSQL instance the test starts itself, over the broker, under a steady seeded load of
mixed writes through the public HTTP APIs, while a seeded schedule of faults happens:

- SIGKILL of each service at its moment, restarted at once (as a supervisor would);
- the broker stopped for 30 s (every node of the cluster; Tansu comes back empty): HTTP writes
  keep succeeding, everything is delivered after it returns;
- on the three-broker Apache Kafka cluster (replication factor 3, min.insync.replicas 2; the
  harness's default where Java 17 answers), broker faults one at a time (two down would lose the
  quorum): a SIGKILL of the leader of a busy partition under load, one broker stopped for 30 s
  and started again, and the active controller (found with the tools' quorum command) killed.
  For each: the longest time a partition went without an acknowledged write (a probe producer,
  acks=all) and the time until every consumer's lag is 0 again;
- PostgreSQL crashed (immediate stop) and started again: the services recover by themselves;
- the webhook receiver down for 20 s, then back: every delivery arrives.

The faults come one after another, each once the system has recovered from the one before
(ready again, every earlier write accepted, every outbox published, every event applied
downstream and every webhook arrived); the load goes on until the last has recovered. Every
write carries an Idempotency-Key and is retried with the same key until a definite answer
(a few writes during the PostgreSQL outage are sent once only: they must not be there). The
end state is then checked against the fault-free model of the writes sent
(tests/faults/plan.py) by invariants, not checksums: every accepted write present exactly
once, every event's effect applied once, each aggregate as the model says, every webhook
delivered. The figures (schedule, per fault downtime, recovery, writes accepted and failed
during the outage, deliveries and duplicates) go to var/faults/report.json.

SIKADER_FAULTS_SEED (default 6471) picks another schedule and load; SIKADER_FAULTS_RATE
(writes a second, default 1.6) sets the load."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.adapters.wilayah_file import load_wilayah
from sikader_shared import topics
from sikader_shared.clock import WITA
from sikader_shared.local_kafka import KafkaNode, KafkaUnavailable, LocalKafka
from sikader_shared.testing.broker import TestBroker, free_port, start_test_broker, wait_kafka_ready
from sikader_shared.testing.kafka import headers_of, read_topic
from sikader_shared.testing.services import SubprocessService
from tests.conftest import subprocess_env
from tests.faults.broker_probe import WriteProbe
from tests.faults.plan import SUBSCRIBED, Plan, make_plan
from tests.faults.postgres import LocalPostgres, find_bin_dir
from tests.faults.receiver import WebhookReceiver
from tests.faults.runner import LoadRunner, ReadinessMonitor

pytestmark = pytest.mark.faults

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "var" / "faults"
SERVICES = ("registry", "certification", "incentives", "notifications")
SECRET = "faults-webhook-secret-0123456789"
SEED = int(os.environ.get("SIKADER_FAULTS_SEED", "6471"))
RATE = float(os.environ.get("SIKADER_FAULTS_RATE", "1.6"))
WRITES_PER_POSYANDU = 9.1  # a Posyandu's story with its cadres' (measured over the plan)
TAIL_S = 10.0  # load after the last fault has recovered
BROKER_DOWN_S = 30.0
RECEIVER_DOWN_S = 20.0
POSTGRES_DOWN_S = 8.0
RECOVERY_TIMEOUT_S = 180.0
CONVERGE_TIMEOUT_S = 240.0

NODE_DOWN_S = 30.0  # one broker of the cluster stopped
LEADER_DOWN_S = 15.0  # the killed leader / controller is started again after this
CLUSTER_NODES = 3

# Seconds from one fault to the next in the schedule (later if recovering takes longer).
SLOTS = {
    "kill": 14.0,
    "broker": BROKER_DOWN_S + 22,
    "webhook": RECEIVER_DOWN_S + 18,
    "postgres": POSTGRES_DOWN_S + 20,
    "leader": LEADER_DOWN_S + 15,
    "node": NODE_DOWN_S + 15,
    "controller": LEADER_DOWN_S + 15,
}


@dataclass(frozen=True)
class Fault:
    kind: str  # kill | broker | webhook | postgres | leader | node | controller
    target: str
    at: float  # seconds after the load starts


def make_schedule(seed: int, cluster: bool = False) -> list[Fault]:
    """Every fault once, in a seeded order, at seeded moments, one after another (the broker
    faults of a cluster only on a cluster)."""
    rng = random.Random(seed * 7919)
    faults = [("kill", s) for s in SERVICES] + [("broker", "broker"), ("webhook", "receiver"), ("postgres", "postgres")]
    if cluster:
        node = str(rng.randint(1, CLUSTER_NODES))
        faults += [("leader", topics.CADRE), ("node", node), ("controller", "active")]
    rng.shuffle(faults)
    out, t = [], 8.0
    for kind, target in faults:
        t += rng.uniform(0, 4)
        out.append(Fault(kind, target, round(t, 1)))
        t += SLOTS[kind]
    return out


@pytest.fixture
def postgres() -> Iterator[LocalPostgres]:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        if os.environ.get("SIKADER_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL binaries (initdb, pg_ctl) not found: set SIKADER_TEST_PG_BIN")
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found (SIKADER_TEST_PG_BIN)")
    pg = LocalPostgres(bin_dir).init()
    pg.start()
    try:
        yield pg
    finally:
        pg.close()


@pytest.fixture
def fault_broker(tmp_path: Path) -> Iterator[TestBroker]:
    """Three Apache Kafka brokers (KRaft, each also a controller) on loopback, replication
    factor 3, min.insync.replicas 2; the harness's broker when Apache Kafka cannot run here
    (then without the cluster's broker faults) or KAFKA_BOOTSTRAP_SERVERS is set."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("SIKADER_TEST_SKIP_APACHE_KAFKA") == "1":
        broker = start_test_broker()
    else:
        try:
            cluster = LocalKafka(tmp_path / "kafka", nodes=CLUSTER_NODES)
            cluster.start()
            asyncio.run(wait_kafka_ready(cluster.bootstrap, 120))
            broker = TestBroker(cluster.bootstrap, f"apache-kafka-cluster:{CLUSTER_NODES}", _extra={"kafka": cluster})
        except KafkaUnavailable as exc:
            if os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
                pytest.fail(f"SIKADER_TEST_REQUIRE_APACHE_KAFKA=1 but the three-broker cluster failed: {exc}")
            broker = start_test_broker()
    try:
        yield broker
    finally:
        broker.close()


def now() -> float:
    return time.monotonic()


async def until(
    check: Callable[[], Awaitable[Any]],
    what: str,
    timeout: float,
    interval: float = 0.5,
    missing_until: dict[str, float] | None = None,
) -> float:
    """Wait for `check` to hold (True, or an empty list of what is still missing, each
    "<what>: <detail>"); returns the moment it did. `missing_until` gets, per kind of gap,
    the last moment it was still seen."""
    deadline = now() + timeout
    last: Any = None
    while now() < deadline:
        last = await check()
        if isinstance(last, list) and missing_until is not None:
            for gap in last:
                missing_until[str(gap).split(":")[0]] = now()
        if (not last) if isinstance(last, list) else bool(last):
            return now()
        await asyncio.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (still: {last if not isinstance(last, list) else last[:8]})")


def issue_admin_key(env: dict[str, str]) -> str:
    """An operator issues the key with the registry's CLI; sikader.auth.v1 carries it on."""
    out = subprocess.run(
        [sys.executable, "-m", "registry.entrypoints.cli", "keys", "issue", "--client", "ops", "--scopes", "admin"],
        capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    return str(json.loads(out.stdout)["key"])


def heals(log: Path) -> int:
    try:
        return log.read_text(errors="replace").count("broker reset detected")
    except OSError:
        return 0


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


class Harness:
    """The running system and what the faults and checks need of it."""

    def __init__(
        self,
        broker: TestBroker,
        pg: LocalPostgres,
        services: dict[str, SubprocessService],
        receiver: WebhookReceiver,
        plan: Plan,
        runner: LoadRunner,
        monitor: ReadinessMonitor,
        key: str,
        subscription_id: str,
        probe: WriteProbe | None = None,
    ) -> None:
        self.broker = broker
        self.probe = probe
        self.pg = pg
        self.services = services
        self.receiver = receiver
        self.plan = plan
        self.model = plan.model()  # replaced by the model of the writes sent when the load ends
        self.runner = runner
        self.monitor = monitor
        self.key = key
        self.subscription_id = subscription_id
        self.kills: dict[str, list[float]] = defaultdict(list)
        self._applied: dict[str, set[str]] = {"certification": set(), "incentives": set()}
        self.http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=10)

    def url(self, service: str, path: str) -> str:
        return self.services[service].url + path

    def rel(self, t: float) -> float:
        return round(t - self.runner.t0, 1)

    async def ready(self, service: str, broker_up: bool = False) -> list[str]:
        """What keeps `service` from ready, consuming, with nothing left in its outbox (and,
        if asked, the broker seen up); empty when nothing does."""
        try:
            r = await self.http.get(self.url(service, "/health/ready"))
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            return [f"{service}: no answer ({type(exc).__name__})"]
        gaps = [] if r.status_code == 200 else [f"{service}: {r.status_code}"]
        if not body.get("consumer", {}).get("running"):
            gaps.append(f"{service}: not consuming")
        if body.get("outbox_backlog") != 0:
            gaps.append(f"{service}: outbox backlog {body.get('outbox_backlog')}")
        if broker_up and body.get("broker", {}).get("status") != "up":
            gaps.append(f"{service}: broker {body.get('broker', {}).get('status')}")
        return gaps

    async def all_ready(self, broker_up: bool = False) -> list[str]:
        return [g for gaps in await asyncio.gather(*(self.ready(s, broker_up) for s in SERVICES)) for g in gaps]

    def expected_arrivals(self, before: float) -> Counter[tuple[str, str]]:
        """(aggregate id, event name) the webhook must have had for the writes accepted before `before`."""
        want: Counter[tuple[str, str]] = Counter()
        for o in self.runner.outcomes.values():
            if o.accepted_at is not None and o.accepted_at <= before:
                for name in (n for n in o.op.notifies if n in SUBSCRIBED):
                    want[(self.runner.ids[o.op.lane], name)] += 1
        return want

    def arrived(self) -> Counter[tuple[str, str]]:
        seen: dict[str, tuple[str, str]] = {}
        for a in self.receiver.arrivals():
            seen[a.ce_id] = (a.subject, a.ce_type.split(".")[2] if a.ce_type.count(".") >= 3 else a.ce_type)
        return Counter(seen.values())

    async def delivered_before(self, t: float) -> list[str]:
        have = self.arrived()
        missing = [k for k, n in self.expected_arrivals(t).items() if have[k] < n]
        return [f"webhooks: {len(missing)} not arrived, e.g. {missing[0]}"] if missing else []

    async def applied_downstream(self, t: float) -> list[str]:
        """Certification and incentives have applied every cadre registered before `t`."""
        gaps = []
        for where, path in (("certification", "/cadres/{}"), ("incentives", "/eligibility/{}")):
            known = self._applied[where]
            for o in self.runner.outcomes.values():
                ref = o.op.ref or ""
                if o.op.kind != "cadre.register" or o.accepted_at is None or o.accepted_at > t or ref in known:
                    continue
                try:
                    r = await self.http.get(self.url(where, path.format(self.runner.ids[ref])))
                except httpx.HTTPError:
                    r = None
                if r is None or r.status_code != 200:
                    gaps.append(f"{where}: cadre {ref} not applied yet")
                    break
                known.add(ref)
        return gaps

    async def drained(self, t: float) -> list[str]:
        """What is still missing for "everything before `t` is through": every write sent
        before `t` accepted; each service ready, consuming and with an empty outbox at some
        moment after the last of those writes (so their events are published); certification
        and incentives have applied every cadre registered before `t`; every webhook for the
        writes accepted before `t` arrived."""
        waiting = self.runner.unaccepted_sent_before(t)
        if waiting:
            return [f"writes: {len(waiting)} not accepted yet, e.g. {waiting[0].op.kind}"]
        since = max([t] + [o.accepted_at for o in self.runner.sent_before(t) if o.accepted_at is not None])
        gaps = [
            f"{s}: not ready with an empty outbox since t={self.rel(since)}"
            for s in SERVICES
            if not self.monitor.clear_since(s, since)
        ]
        return gaps + await self.applied_downstream(t) + await self.delivered_before(t)

    # ---------------------------------------------------------------- the faults

    async def kill(self, service: str) -> dict[str, Any]:
        svc = self.services[service]
        t_kill = now()
        await asyncio.to_thread(svc.kill)
        self.kills[service].append(t_kill)
        await svc.start()  # restarted at once; returns when ready and consuming
        t_ready = now()
        waits: dict[str, float] = {}
        t_drained = await until(
            lambda: self.drained(t_ready), f"{service} drained after SIGKILL", RECOVERY_TIMEOUT_S, missing_until=waits
        )
        return {
            "fault": f"SIGKILL {service}, restarted at once",
            "at_s": self.rel(t_kill),
            "downtime_s": round(t_ready - t_kill, 2),
            "recovered_s": round(t_drained - t_kill, 2),
            "still_missing_until_s": {k: round(v - t_kill, 1) for k, v in waits.items()},
            "writes_accepted_during_outage": self.runner.accepted_in(t_kill, t_ready),
            "writes_accepted_during_outage_by_service": {
                s: self.runner.accepted_in(t_kill, t_ready, s) for s in SERVICES
            },
            "failed_attempts_during_outage": self.runner.attempts_in(t_kill, t_ready, "failed"),
            "failed_attempts_got": self.runner.failures_in(t_kill, t_ready),
            "writes_with_failed_attempts": self.runner.writes_failed_in(t_kill, t_ready),
        }

    async def broker_outage(self) -> dict[str, Any]:
        broker = self.broker
        empty = "tansu" in broker.kind or broker.kind == "subprocess"
        heals_before = {s: heals(self.services[s].log_path) for s in SERVICES}
        t_stop = now()
        await asyncio.to_thread(broker.stop_broker)

        async def reported_unreachable() -> bool:
            return all(
                any(x.broker == "unreachable" and x.at >= t_stop for x in self.monitor.samples[s]) for s in SERVICES
            )

        await until(reported_unreachable, "every service reports the broker unreachable", BROKER_DOWN_S)
        await asyncio.sleep(max(0.0, BROKER_DOWN_S - (now() - t_stop)))
        t_start = now()
        await asyncio.to_thread(broker.start_broker)
        await wait_kafka_ready(broker.bootstrap, 90)
        t_back = now()
        accepted = self.runner.accepted_in(t_stop, t_start)
        failed = self.runner.attempts_in(t_stop, t_start, "failed")
        t_ready = await until(lambda: self.all_ready(broker_up=True), "services up after the broker returned",
                              RECOVERY_TIMEOUT_S)  # fmt: skip
        # Everything written while the broker was away reaches the other services and the webhook.
        during = [
            o for o in self.runner.outcomes.values()
            if o.op.kind == "cadre.register" and o.accepted_at is not None and t_stop <= o.accepted_at <= t_start
        ]  # fmt: skip

        reached: dict[str, float] = {}

        async def outage_writes_everywhere() -> list[str]:
            """Each consumer of the outage's writes, with the moment it had them all."""
            gaps = []
            for where, path in (("certification", "/cadres/{}"), ("incentives", "/eligibility/{}")):
                if where in reached:
                    continue
                for o in during:
                    r = await self.http.get(self.url(where, path.format(self.runner.ids[o.op.ref or ""])))
                    if r.status_code != 200:
                        gaps.append(f"{where} does not know cadre {o.op.ref} yet")
                        break
                else:
                    reached[where] = now()
            if "webhook" not in reached:
                missing = await self.delivered_before(t_start)
                if missing:
                    gaps += missing
                else:
                    reached["webhook"] = now()
            return gaps

        t_delivered = await until(outage_writes_everywhere, "writes of the outage delivered", RECOVERY_TIMEOUT_S, 0.5)
        waits: dict[str, float] = {}
        t_drained = await until(
            lambda: self.drained(t_back), "drained after the broker outage", RECOVERY_TIMEOUT_S, missing_until=waits
        )
        healed = {s: heals(self.services[s].log_path) - heals_before[s] for s in SERVICES}
        figures = {
            "fault": f"broker stopped for {BROKER_DOWN_S:.0f} s" + (", restarted empty" if empty else ""),
            "broker": broker.kind,
            "at_s": self.rel(t_stop),
            "downtime_s": round(t_back - t_stop, 2),
            "services_ready_with_broker_s": round(t_ready - t_back, 2),
            "outage_writes_delivered_s": round(t_delivered - t_back, 2),
            "outage_writes_reached_s": {k: round(v - t_back, 2) for k, v in reached.items()},
            "recovered_s": round(t_drained - t_back, 2),
            "still_missing_until_s": {k: round(v - t_back, 1) for k, v in waits.items()},
            "writes_accepted_during_outage": accepted,
            "writes_accepted_during_outage_by_service": {
                s: self.runner.accepted_in(t_stop, t_start, s) for s in SERVICES
            },
            "cadres_registered_during_outage": len(during),
            "failed_attempts_during_outage": failed,
            "heals_after_restart": healed,
        }
        assert accepted > 0, "no HTTP write was accepted while the broker was down"
        assert failed == 0, f"{failed} HTTP write attempts failed while the broker was down"
        if empty:
            assert all(n >= 1 for n in healed.values()), f"the broker came back empty; heals seen: {healed}"
        return figures

    # -- broker faults of the three-broker cluster (one at a time: two down loses the quorum)

    @property
    def cluster(self) -> LocalKafka:
        assert self.broker.kafka is not None
        return self.broker.kafka

    async def _leader_of(self, topic: str, partition: int) -> int:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=self.broker.bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics([topic])
        finally:
            await admin.close()
        part = next(p for p in described[0]["partitions"] if p["partition"] == partition)
        return int(part["leader"])

    async def _busiest_partition(self, topic: str) -> int:
        """The partition of `topic` with the most records: the one the load writes most."""
        records = await read_topic(self.broker.bootstrap, topic, idle_polls=1)
        counts = Counter(r.partition for r in records)
        return counts.most_common(1)[0][0] if counts else 0

    async def _broker_fault_figures(self, fault: str, node: int, t_fault: float, t_back: float) -> dict[str, Any]:
        """After a broker fault: everything through (as for the other faults), every consumer's
        lag back to 0, and the longest time a partition had no acknowledged write."""
        waits: dict[str, float] = {}
        t_drained = await until(
            lambda: self.drained(t_back), f"drained after: {fault}", RECOVERY_TIMEOUT_S, missing_until=waits
        )
        t_zero = await until(
            lambda: asyncio.sleep(0, self.monitor.zero_lag_after(t_back)), "every consumer's lag 0", RECOVERY_TIMEOUT_S
        )
        t_zero = self.monitor.zero_lag_after(t_back) or t_zero
        gap = self.probe.longest_gap(t_fault, t_drained) if self.probe is not None else None
        return {
            "fault": fault,
            "node": node,
            "broker": self.broker.kind,
            "at_s": self.rel(t_fault),
            "node_down_s": round(t_back - t_fault, 2),
            "longest_without_acknowledged_write_s": gap,
            "zero_lag_after_fault_s": round(t_zero - t_fault, 2),
            "recovered_s": round(t_drained - t_fault, 2),
            "still_missing_until_s": {k: round(v - t_fault, 1) for k, v in waits.items()},
            "writes_accepted_during_outage": self.runner.accepted_in(t_fault, t_back),
            "failed_attempts_during_outage": self.runner.attempts_in(t_fault, t_back, "failed"),
        }

    async def _broker_down(
        self,
        node: KafkaNode,
        sig: int,
        down_s: float,
        fault: str,
        meanwhile: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """Stop one broker with `sig`, start it again `down_s` later, then the figures; no
        HTTP write may fail meanwhile. `meanwhile` runs while it is down (its figures added)."""
        t_fault = now()
        await asyncio.to_thread(self.cluster.stop_node, node, sig)
        extra = await meanwhile() if meanwhile is not None else {}
        await asyncio.sleep(max(0.0, down_s - (now() - t_fault)))
        t_back = now()
        await asyncio.to_thread(self.cluster.start_node, node)
        figures = {**await self._broker_fault_figures(fault, node.node_id, t_fault, t_back), **extra}
        assert figures["failed_attempts_during_outage"] == 0, figures
        return figures

    async def leader_kill(self, topic: str) -> dict[str, Any]:
        partition = await self._busiest_partition(topic)
        node = self.cluster.node(await self._leader_of(topic, partition))
        fault = (f"SIGKILL of broker {node.node_id}, leader of {topic}[{partition}] (the busiest), restarted after "
                 f"{LEADER_DOWN_S:.0f} s")  # fmt: skip
        figures = await self._broker_down(node, signal.SIGKILL, LEADER_DOWN_S, fault)
        figures["new_leader"] = await self._leader_of(topic, partition)
        return figures

    async def node_stop(self, node_id: str) -> dict[str, Any]:
        node = self.cluster.node(int(node_id))
        fault = f"broker {node.node_id} stopped (SIGTERM) for {NODE_DOWN_S:.0f} s and started again"
        return await self._broker_down(node, signal.SIGTERM, NODE_DOWN_S, fault)

    async def controller_kill(self) -> dict[str, Any]:
        node = await asyncio.to_thread(self.cluster.active_controller)
        t_kill = now()

        async def new_controller() -> dict[str, Any]:
            elected = await asyncio.to_thread(self.cluster.active_controller)
            assert elected.node_id != node.node_id, elected
            return {"new_controller": elected.node_id, "new_controller_seen_after_s": round(now() - t_kill, 2)}

        fault = f"SIGKILL of the active controller (broker {node.node_id}), restarted after {LEADER_DOWN_S:.0f} s"
        return await self._broker_down(node, signal.SIGKILL, LEADER_DOWN_S, fault, new_controller)

    async def receiver_outage(self) -> dict[str, Any]:
        t_down = now()
        arrived_before = len(self.receiver.arrivals())
        self.kills["receiver"].append(t_down)  # answers in flight are lost: those deliveries come again
        await asyncio.to_thread(self.receiver.stop)
        await asyncio.sleep(RECEIVER_DOWN_S)
        pending = await self._deliveries("pending")
        t_up = now()
        await asyncio.to_thread(self.receiver.start)
        t_drained = await until(lambda: self.delivered_before(t_up), "webhooks after the receiver returned",
                                RECOVERY_TIMEOUT_S, 0.5)  # fmt: skip
        caught_up = [a for a in self.receiver.arrivals() if t_up <= a.at <= t_drained]
        return {
            "fault": f"webhook receiver down for {RECEIVER_DOWN_S:.0f} s (connections refused)",
            "at_s": self.rel(t_down),
            "downtime_s": round(t_up - t_down, 2),
            "deliveries_pending_when_back": len(pending),
            "deliveries_retried_when_back": sum(1 for d in pending if d["attempts"] >= 1),
            "recovered_s": round(t_drained - t_up, 2),
            "webhooks_while_catching_up_per_s": round(len(caught_up) / max(t_drained - t_up, 0.1), 2),
            "arrivals_before_outage": arrived_before,
            "writes_accepted_during_outage": self.runner.accepted_in(t_down, t_up),
        }

    async def postgres_restart(self) -> dict[str, Any]:
        t_stop = now()
        await asyncio.to_thread(self.pg.stop, "immediate")
        # Besides the load (retried until accepted), a few writes sent once and not retried.
        probes = []
        for i in range(3):
            await asyncio.sleep(POSTGRES_DOWN_S / 4)
            probes.append(await self._probe_once(i))
        await asyncio.sleep(max(0.0, POSTGRES_DOWN_S - (now() - t_stop)))
        t_start = now()
        await asyncio.to_thread(self.pg.start)
        t_back = now()
        t_ready = await until(self.all_ready, "services ready after PostgreSQL returned", RECOVERY_TIMEOUT_S)
        waits: dict[str, float] = {}
        t_drained = await until(lambda: self.drained(t_back), "drained after the PostgreSQL restart",
                                RECOVERY_TIMEOUT_S, missing_until=waits)  # fmt: skip
        dropped = {s: self.monitor.not_ready_in(s, t_stop, t_start) for s in SERVICES}
        # A write that was not accepted is not there; sent again with its key, it is made once.
        present, made_once = 0, 0
        for body, key, answer in probes:
            if answer.startswith("2"):
                continue
            listed = await self.http.get(self.url("registry", "/posyandu"), params={"name": body["name"]})
            present += listed.json()["total"]
            again = await self.http.post(self.url("registry", "/posyandu"), json=body, headers={"Idempotency-Key": key})
            listed = await self.http.get(self.url("registry", "/posyandu"), params={"name": body["name"]})
            replayed = again.headers.get("idempotent-replayed") == "true"
            made_once += again.status_code == 201 and not replayed and listed.json()["total"] == 1
        failures = self.runner.failures_in(t_stop, t_ready)
        figures = {
            "fault": f"PostgreSQL crashed (pg_ctl stop -m immediate), started again after {POSTGRES_DOWN_S:.0f} s",
            "at_s": self.rel(t_stop),
            "downtime_s": round(t_back - t_stop, 2),
            "ready_again_s": round(t_ready - t_back, 2),
            "recovered_s": round(t_drained - t_back, 2),
            "still_missing_until_s": {k: round(v - t_back, 1) for k, v in waits.items()},
            "not_ready_samples_during_outage": dropped,
            "writes_accepted_during_outage": self.runner.accepted_in(t_stop, t_start),
            "failed_attempts_during_outage": self.runner.attempts_in(t_stop, t_ready, "failed"),
            "failed_attempts_got": failures,
            "writes_with_failed_attempts": self.runner.writes_failed_in(t_stop, t_ready),
            "writes_sent_once_during_outage": {
                "answers": dict(Counter(answer for _, _, answer in probes)),
                "present_afterwards": present,
                "sent_again_with_their_key_and_made_once": made_once,
            },
            "restarted_by_hand": 0,
        }
        assert all(n > 0 for n in dropped.values()), f"readiness did not drop while PostgreSQL was down: {dropped}"
        assert "500" not in failures, f"a write got 500 instead of 503 while PostgreSQL was away: {failures}"
        refused = [p for p in probes if not p[2].startswith("2")]
        assert present == 0 and made_once == len(refused), figures["writes_sent_once_during_outage"]
        return figures

    async def _probe_once(self, i: int) -> tuple[dict[str, Any], str, str]:
        """A Posyandu registration sent once; (body, key, what came back)."""
        body = {
            "name": f"Posyandu Cadangan P{self.plan.tag[1:]} {i}",  # not matched by the plan's tag
            "kelurahan_code": "64.71.06.1002",
            "posyandu_type": "balita",
        }
        key = f"faults-{self.plan.tag}-probe-{i}"
        try:
            r = await self.http.post(self.url("registry", "/posyandu"), json=body, headers={"Idempotency-Key": key})
            return body, key, str(r.status_code)
        except httpx.TransportError as exc:
            return body, key, type(exc).__name__

    async def _deliveries(self, status: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            r = await self.http.get(
                self.url("notifications", f"/subscriptions/{self.subscription_id}/deliveries"),
                params={"status": status, "limit": 1000, "offset": len(out)},
            )
            assert r.status_code == 200, r.text
            page = r.json()
            out += page
            if len(page) < 1000:
                return out

    # ---------------------------------------------------------------- the invariants

    async def check(self, period: str, amounts: dict[str, int], period_starts_today: bool) -> tuple[list[str], dict]:
        """Everything the model says, against what the services answer and what the broker
        carries. Returns the mismatches (empty: all hold) and figures."""
        bad: list[str] = []
        ids = self.runner.ids
        sem = asyncio.Semaphore(8)

        async def get(service: str, path: str, **params: Any) -> Any:
            async with sem:
                r = await self.http.get(self.url(service, path), params=params or None)
            if r.status_code != 200:
                bad.append(f"GET {service} {path}: {r.status_code} {r.text[:200]}")
                return None
            return r.json()

        # -- every accepted write present exactly once (registry)
        async def posyandu(ref: str) -> None:
            m, pid = self.model.posyandu[ref], ids[ref]
            p = await get("registry", f"/posyandu/{pid}")
            assessments = await get("registry", f"/posyandu/{pid}/assessments")
            decisions = await get("registry", f"/posyandu/{pid}/verifications")
            members = await get("registry", "/cadres", posyandu_id=pid, page_size=200)
            audit = await get("registry", "/audit", entity_type="posyandu", entity_id=pid, limit=1000)
            if None in (p, assessments, decisions, members, audit):
                return
            if p["verification_status"] != m.verification:
                bad.append(f"posyandu {ref}: {p['verification_status']} != model {m.verification}")
            if len(assessments) != m.assessments:
                bad.append(f"posyandu {ref}: {len(assessments)} assessments != model {m.assessments}")
            if len(decisions) != m.verified + m.rejected:
                bad.append(f"posyandu {ref}: {len(decisions)} decisions != model {m.verified + m.rejected}")
            if members["total"] != len(m.cadres):
                bad.append(f"posyandu {ref}: {members['total']} cadres != model {len(m.cadres)}")
            actions = Counter(a["action"] for a in audit)
            decided = m.verified + m.rejected
            want = {"posyandu.register": 1, "posyandu.assess": m.assessments, "posyandu.verify": decided}
            if {k: actions.get(k, 0) for k in want} != want:
                bad.append(f"posyandu {ref}: audit {dict(actions)} != model {want}")

        async def cadre(ref: str) -> None:
            m, cid = self.model.cadres[ref], ids[ref]
            c = await get("registry", f"/cadres/{cid}")
            audit = await get("registry", "/audit", entity_type="cadre", entity_id=cid, limit=1000)
            history = await get("certification", f"/cadres/{cid}/history")
            if c is not None and c["status"] != m.status:
                bad.append(f"cadre {ref}: registry status {c['status']} != model {m.status}")
            if audit is not None:
                actions = Counter(a["action"] for a in audit)
                want = {"cadre.register": 1, "cadre.deactivate": m.deactivations, "cadre.reactivate": m.reactivations}
                if {k: actions.get(k, 0) for k in want} != want:
                    bad.append(f"cadre {ref}: audit {dict(actions)} != model {want}")
            if history is not None:
                if history["cadre"]["status"] != m.status:
                    bad.append(f"cadre {ref}: certification sees {history['cadre']['status']}, model {m.status}")
                if len(history["assessments"]) != m.skill_results:
                    bad.append(f"cadre {ref}: {len(history['assessments'])} skill results != model {m.skill_results}")
                certs = history["certificates"]
                current = [x for x in certs if x["status"] != "superseded"]
                if len(certs) != len(m.issued) or len(current) != (1 if m.issued else 0):
                    bad.append(f"cadre {ref}: certificates {[(x['level'], x['status']) for x in certs]} "
                               f"!= model {m.issued} ({m.certificate_status})")  # fmt: skip
                elif current and (current[0]["level"], current[0]["status"]) != (m.level, m.certificate_status):
                    bad.append(f"cadre {ref}: certificate {current[0]['level']} {current[0]['status']} "
                               f"!= model {m.level} {m.certificate_status}")  # fmt: skip
            if period:
                e = await get("incentives", f"/eligibility/{cid}", period=period)
                want_e = self.model.eligible(m, period_starts_today, amounts)
                if e is not None and (e["eligible"], e["amount"]) != want_e:
                    failed = [r["rule"] for r in e["reasons"] if not r["passed"]]
                    bad.append(f"cadre {ref}: eligibility {(e['eligible'], e['amount'])} != model {want_e} {failed}")

        await asyncio.gather(*(posyandu(r) for r in self.model.posyandu), *(cadre(r) for r in self.model.cadres))
        listed = await get("registry", "/posyandu", name=self.plan.tag, page_size=500)
        if listed is not None and listed["total"] != len(self.model.posyandu):
            bad.append(f"{listed['total']} Posyandu registered != model {len(self.model.posyandu)}")

        # -- events on the broker: each aggregate's events, each once (repeats of one ce_id allowed)
        records = []
        for topic in (topics.POSYANDU, topics.CADRE, topics.CERTIFICATION, topics.NOTIFICATIONS):
            records += await read_topic(self.broker.bootstrap, topic)
        distinct: dict[tuple[str, str], set[str]] = defaultdict(set)
        repeats = 0
        seen: set[str] = set()
        delivered_events: dict[str, set[str]] = defaultdict(set)  # notification id -> ce_ids
        event_time: dict[str, datetime] = {}
        for r in records:
            h = headers_of(r)
            ce_id, name = h.get("ce_id", ""), h.get("ce_type", "").split(".")[2]
            event_time[ce_id] = _ts(h.get("ce_time", ""))
            if ce_id in seen:
                repeats += 1
            seen.add(ce_id)
            distinct[(h.get("ce_subject", ""), name)].add(ce_id)
            if name == "NotificationDelivered":
                body = json.loads(r.value)
                if body.get("subscription_id") == self.subscription_id:
                    delivered_events[body["notification_id"]].add(ce_id)
        for ref, p in self.model.posyandu.items():
            want = {"PosyanduRegistered": 1, "PosyanduFacilityAssessed": p.assessments,
                    "PosyanduFacilityVerified": p.verified, "PosyanduFacilityRejected": p.rejected}  # fmt: skip
            have = {k: len(distinct[(ids[ref], k)]) for k in want}
            if have != want:
                bad.append(f"posyandu {ref}: events {have} != model {want}")
        for ref, c in self.model.cadres.items():
            want = c.events()
            have = {k: len(distinct[(ids[ref], k)]) for k in want}
            if have != want:
                bad.append(f"cadre {ref}: events {have} != model {want}")

        # -- the webhook: every subscribed event of ours arrived (deduplicated on ce-id)
        ours = {ids[r] for r in (*self.model.posyandu, *self.model.cadres)}
        expected = {i for (subject, name), s in distinct.items() if subject in ours and name in SUBSCRIBED for i in s}
        arrivals = self.receiver.arrivals()
        received = {a.ce_id for a in arrivals}
        if received != expected:
            bad.append(f"webhook: {len(expected - received)} events never arrived, "
                       f"{len(received - expected)} arrived that are not ours")  # fmt: skip
        if len(expected) != self.model.expected_deliveries():
            bad.append(f"{len(expected)} subscribed events on the broker != model {self.model.expected_deliveries()}")
        unverified = [a for a in arrivals if not a.verified]
        if unverified:
            bad.append(f"{len(unverified)} webhooks with a bad signature")
        by_delivery = Counter(a.delivery_id for a in arrivals)
        repeated = {d: n for d, n in by_delivery.items() if n > 1}
        # A delivery comes again only if notifications died between sending it and recording
        # it, or the receiver went down before its answer reached notifications: its first
        # arrival shortly before a SIGKILL of notifications or the receiver's stop.
        first = {}
        for a in arrivals:
            first.setdefault(a.delivery_id, a.at)
        kills = [*self.kills.get("notifications", []), *self.kills.get("receiver", [])]
        unexplained = [d for d in repeated if not any(0 <= k - first[d] <= 10 for k in kills)]
        if unexplained:
            bad.append(f"{len(unexplained)} webhook deliveries repeated without a crash to explain them")
        rows = {s: await self._deliveries(s) for s in ("delivered", "pending", "failed", "skipped")}
        statuses = {s: len(v) for s, v in rows.items()}
        if statuses["delivered"] != len(expected) or statuses["pending"] or statuses["failed"]:
            bad.append(f"subscription deliveries {statuses}, expected {len(expected)} delivered")
        recorded_twice = [n for n, s in delivered_events.items() if len(s) > 1]
        if len(delivered_events) != len(expected) or recorded_twice:
            bad.append(f"NotificationDelivered for {len(delivered_events)} deliveries (expected {len(expected)}), "
                       f"{len(recorded_twice)} recorded twice")  # fmt: skip

        # -- nothing dead-lettered anywhere
        for s in SERVICES:
            async with sem:
                metrics = (await self.http.get(self.url(s, "/metrics"))).text
            found = re.search(r"^sikader_dlq_messages_total\S*\s+([0-9.e+]+)$", metrics, re.M)
            if found is None or float(found.group(1)) != 0:
                bad.append(f"{s}: dead letters: {found.group(1) if found else 'metric missing'}")

        figures = {
            "events_on_broker": len(records),
            "event_records_repeated": repeats,
            "webhook_expected": len(expected),
            "webhook_arrivals": len(arrivals),
            "webhook_distinct_events": len(received),
            "webhook_deliveries_repeated": len(repeated),
            "webhook_repeats_explained_by_sigkill": len(repeated) - len(unexplained),
            "subscription_deliveries": statuses,
            "webhook_latency_s": _latencies(rows["delivered"], event_time),
        }
        return bad, figures


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else datetime.min.replace(tzinfo=UTC)


def _latencies(delivered: list[dict[str, Any]], event_time: dict[str, datetime]) -> dict[str, dict[str, float]]:
    """Per delivered webhook: event committed at its source -> delivery planned by
    notifications (consumed) -> delivered to the receiver."""
    stages: dict[str, list[float]] = {"consumed": [], "sent_after_consumed": [], "total": []}
    for d in delivered:
        source = event_time.get(d["source_event_id"])
        created, done = _ts(d["created_at"]), _ts(d["delivered_at"] or "")
        if source is None or d["delivered_at"] is None:
            continue
        stages["consumed"].append((created - source).total_seconds())
        stages["sent_after_consumed"].append((done - created).total_seconds())
        stages["total"].append((done - source).total_seconds())

    def pct(values: list[float]) -> dict[str, float]:
        v = sorted(values)
        if not v:
            return {}
        return {p: round(v[min(len(v) - 1, int(q * len(v)))], 2) for p, q in (("p50", 0.5), ("p95", 0.95), ("max", 1))}

    return {k: pct(v) for k, v in stages.items()}


@pytest.mark.timeout(900)
async def test_seeded_fault_schedule_keeps_every_write_and_event_once(
    fault_broker: TestBroker, postgres: LocalPostgres, tmp_path: Path
) -> None:
    broker = fault_broker
    cluster = broker.kafka is not None and len(broker.kafka.members) > 1
    if not broker.restartable:
        pytest.skip("the broker outage needs a broker the test can stop (KAFKA_BOOTSTRAP_SERVERS is set)")
    started = now()
    OUT.mkdir(parents=True, exist_ok=True)
    logs = OUT / "logs"
    logs.mkdir(exist_ok=True)
    for old in logs.glob("*.log"):
        old.unlink()
    schedule = make_schedule(SEED, cluster)
    tag = f"F{SEED}x{int(time.time()) % 100000}"
    report: dict[str, Any] = {
        "seed": SEED,
        "tag": tag,
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": loadavg()},
        "broker": broker.kind,
        "postgres": f"own instance on 127.0.0.1:{postgres.port} ({postgres.bin_dir})",
        "schedule": [{"fault": f.kind, "target": f.target, "at_s": f.at} for f in schedule],
        "faults": [],
    }
    print(f"\nfault schedule (seed {SEED}):", *(f"  t={f.at:6.1f}s {f.kind} {f.target}" for f in schedule), sep="\n")

    receiver = WebhookReceiver(SECRET).start()
    services: dict[str, SubprocessService] = {}
    harness: Harness | None = None
    try:
        envs = {}
        for s in SERVICES:
            envs[s] = subprocess_env(s, broker, await postgres.create_database(f"sikader_{s}"), tmp_path / s)
            envs[s]["SIKADER_CONSUMER_LAG_INTERVAL_S"] = "1"
            if cluster:
                envs[s]["SIKADER_TOPIC_REPLICATION_FACTOR"] = str(CLUSTER_NODES)
        envs["notifications"].update(
            {
                "SIKADER_NOTIFICATIONS_QUIET_HOURS_START": "00:00",
                "SIKADER_NOTIFICATIONS_QUIET_HOURS_END": "00:00",
                "SIKADER_NOTIFICATIONS_WORKER_POLL_S": "0.2",
                "SIKADER_NOTIFICATIONS_SMTP_PORT": str(free_port()),  # no cadre has an email
                "SIKADER_NOTIFICATIONS_WEBHOOK_TIMEOUT_S": "5",
                "SIKADER_NOTIFICATIONS_SMTP_TIMEOUT_S": "5",
                "SIKADER_NOTIFICATIONS_GATEWAY_TIMEOUT_S": "5",
            }
        )
        services = {s: SubprocessService(s, envs[s], logs / f"{s}.log") for s in SERVICES}
        await asyncio.gather(*(asyncio.to_thread(svc.migrate) for svc in services.values()))
        await asyncio.gather(*(svc.start() for svc in services.values()))
        key = await asyncio.to_thread(issue_admin_key, envs["registry"])
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:

            async def key_known() -> bool:
                codes = [(await http.get(f"{svc.url}/auth/whoami")).status_code for svc in services.values()]
                return all(c == 200 for c in codes)

            await until(key_known, "the admin key known to every service", 60)
            policies = (await http.get(f"{services['incentives'].url}/policies")).json()
            assert len(policies) == 1, policies  # the seeded v1, in force for every period
            r = await http.post(
                f"{services['notifications'].url}/subscriptions",
                json={"url": receiver.url, "secret": SECRET, "event_types": list(SUBSCRIBED)},
            )
            assert r.status_code == 201, r.text
            subscription_id = r.json()["id"]
        policy = policies[0]
        assert (policy["cap_per_posyandu"] or 99) >= 4, policy  # the model assumes the cap never binds

        today = datetime.now(WITA).date()
        period = today.strftime("%Y-%m")
        kelurahan = [(k.code, k.kecamatan_code) for k in load_wilayah("6471.json").all_kelurahan()]
        # The load runs until the last fault has recovered (then TAIL_S more): planned for
        # twice the schedule's nominal length, it is cut there; the model is that of the
        # writes sent.
        load_s = 2 * (schedule[-1].at + SLOTS[schedule[-1].kind]) + 60
        plan = make_plan(SEED, tag, today, kelurahan, round(RATE * load_s / WRITES_PER_POSYANDU), load_s)
        print(f"load: {len(plan.ops) / load_s:.1f} writes/s, planned for up to {load_s:.0f} s")
        runner = LoadRunner(plan, {s: svc.url for s, svc in services.items()}, key)
        monitor = ReadinessMonitor({s: svc.url for s, svc in services.items()})
        probe = None
        if cluster:
            probe = WriteProbe(broker.bootstrap)
            await probe.start(CLUSTER_NODES)
        harness = Harness(broker, postgres, services, receiver, plan, runner, monitor, key, subscription_id, probe)
        h = harness
        monitor_task = asyncio.create_task(monitor.run())
        load_task = asyncio.create_task(runner.run())
        await asyncio.sleep(0)
        actions: dict[str, Callable[[Fault], Awaitable[dict[str, Any]]]] = {
            "kill": lambda f: h.kill(f.target),
            "broker": lambda f: h.broker_outage(),
            "webhook": lambda f: h.receiver_outage(),
            "postgres": lambda f: h.postgres_restart(),
            "leader": lambda f: h.leader_kill(f.target),
            "node": lambda f: h.node_stop(f.target),
            "controller": lambda f: h.controller_kill(),
        }
        for fault in schedule:
            await asyncio.sleep(max(0.0, runner.t0 + fault.at - now()))
            print(f"t={h.rel(now()):6.1f}s {fault.kind} {fault.target} (load {loadavg()})")
            figures = await actions[fault.kind](fault)
            figures["loadavg"] = loadavg()
            report["faults"].append(figures)
            print("   ", json.dumps(figures))

        await asyncio.sleep(TAIL_S)
        sent = runner.cut()
        load_ended = now()
        h.model = plan.model(sent)
        report["load"] = {
            "rate_per_s": round(len(plan.ops) / load_s, 2),
            "duration_s": round(load_ended - runner.t0, 1),
            "posyandu": len(h.model.posyandu),
            "cadres": len(h.model.cadres),
            "ran_out_before_the_faults_ended": sent == len(plan.ops),
        }
        runner.give_up_at = load_ended + RECOVERY_TIMEOUT_S
        await load_task
        t_load_done = now()
        report["load"].update(runner.summary())
        refused = [(o.op.kind, o.op.index, o.refused) for o in runner.outcomes.values() if o.refused]
        assert not refused, f"writes not accepted: {refused[:10]}"

        # The end state, once everything has settled: checked until it holds (or the deadline).
        period_ok = datetime.now(WITA).strftime("%Y-%m") == period
        if not period_ok:
            report["note"] = f"the month changed during the run: eligibility for {period} not checked"
        amounts = {k: int(v) for k, v in policy["amounts"].items()}
        deadline = now() + CONVERGE_TIMEOUT_S
        while True:
            bad, figures = await h.check(period if period_ok else "", amounts, today.day == 1)
            if not bad or now() > deadline:
                break
            await asyncio.sleep(3)
        report["invariants"] = {
            "held": not bad,
            "converged_after_load_s": round(now() - t_load_done, 1),
            "mismatches": bad[:60],
            "checked": [
                "every write accepted exactly once (idempotent retries with the same key)",
                "registry: Posyandu count, verification state, assessments, decisions, cadres per Posyandu, "
                "cadre status, audit trail per aggregate = model",
                "certification: cadre status, skill results, certificates (one current, level and status) = model",
                "incentives: eligibility and amount per cadre = model",
                "broker: distinct events per aggregate and type = model",
                "webhook: every subscribed event arrived (dedupe on ce-id), signatures valid, repeats only after a "
                "SIGKILL of notifications, deliveries delivered/none pending or failed, NotificationDelivered once",
                "no dead letters",
            ],
            **figures,
        }
        monitor.stop()
        await monitor_task
        assert not bad, "invariants do not hold:\n" + "\n".join(bad[:40])
    finally:
        report["wall_time_s"] = round(now() - started, 1)
        report["machine"]["loadavg_at_end"] = loadavg()
        (OUT / "report.json").write_text(json.dumps(report, indent=2, default=str))
        print(f"report: {OUT / 'report.json'}")
        if harness is not None:
            harness.monitor.stop()
            if harness.probe is not None:
                await harness.probe.stop()
            await harness.http.aclose()
        for svc in services.values():  # synchronous: also when the test is interrupted
            if svc.proc is not None and svc.proc.poll() is None:
                svc.proc.terminate()
                try:
                    svc.proc.wait(20)
                except subprocess.TimeoutExpired:
                    svc.kill()
        receiver.stop()
