"""Webhook delivery: bursts to 1 and to 20 subscribers, latency at a steady rate, and the
baseline they are measured against.

The notifications service runs as its own process on PostgreSQL and the broker, with no
message rules (only the subscriptions' webhooks are delivered). The subscribers are paths
of one real keep-alive HTTP/1.1 receiver in this process; each verifies nothing and answers
200 at once. The run measures, in order:

- baseline: a plain keep-alive POST loop (httpx, one connection) from one Python process to
  the same receiver: its rate and its CPU per POST;
- a burst of `--events` CadreRegistered events published at once to 1 subscriber, then to 20:
  webhooks a second and the service's CPU per webhook, each also as a ratio to the baseline;
- latency: `--rate` events a second for `--seconds` to 1 subscriber: event-to-webhook p50 /
  p99 (from the publish to the receiver's answer), and where that time went by the service's
  own timestamps (event time -> kept by the consumer -> claimed -> recorded as delivered).

`--profile PATH` runs the service under cProfile (its stats written there when it stops).

    python -m bench.webhook_delivery --events 10000
    python -m bench.webhook_delivery --events 50 --seconds 3       # smoke size (make bench-smoke)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from bench.common import broker, cpu_seconds, database, drop_database, machine, service_env, start_service, use_postgres
from sikader_shared.events import CadreRegistered
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.kafka import as_message, envelope_for
from sikader_shared.testing.services import SubprocessService, issue_key_with_cli, wait_ready

TARGET_RATE, TARGET_CPU_MS, TARGET_P99_MS = 1000, 1.0, 200


class Receiver:
    """Counts the POSTs it answers per path, and when each webhook-id arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.per_path: Counter[str] = Counter()
        self.arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.per_path[self.path] += 1
                    receiver.arrived[self.headers.get("webhook-id", "")] = time.perf_counter()
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def total(self, paths: list[str]) -> int:
        with self._lock:
            return sum(self.per_path[p] for p in paths)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def registered(i: int) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=str(uuid.uuid4()),
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        name=f"Kader {i}",
        roles=["posyandu_cadre"],
        status="active",
        registered_at=datetime.now(UTC),
    )


# -- baseline -------------------------------------------------------------------------------


async def _post_loop(url: str, count: int) -> None:
    body = json.dumps(registered(0).to_json_dict()).encode()
    headers = {"content-type": "application/json", "webhook-id": "baseline"}
    async with httpx.AsyncClient() as client:
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            (await client.post(url, content=body, headers=headers)).raise_for_status()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"rate": count / elapsed, "cpu_ms": cpu / count * 1000}))


def baseline(url: str, count: int) -> dict[str, float]:
    """The plain keep-alive POST loop, in a process of its own."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.webhook_delivery", "--baseline-url", url, "--events", str(count)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


# -- the service ----------------------------------------------------------------------------


async def subscribe(client: httpx.AsyncClient, url: str) -> str:
    for _ in range(100):  # the key reaches the service over sikader.auth.v1
        r = await client.post("/subscriptions", json={"url": url, "event_types": ["CadreRegistered"]})
        if r.status_code == 201:
            return str(r.json()["id"])
        await asyncio.sleep(0.2)
    raise RuntimeError(f"subscription refused: {r.status_code} {r.text}")


async def burst(
    producer: AIOKafkaProducer, receiver: Receiver, paths: list[str], events: int, pid: int
) -> tuple[float, float]:
    """(webhooks a second, ms of service CPU a webhook) for a burst to the subscribed paths."""
    batch = [registered(i) for i in range(events)]
    messages = [as_message(e, envelope_for(e, service="registry")) for e in batch]
    before, want = receiver.total(paths), events * len(paths)
    started, cpu_started = time.perf_counter(), cpu_seconds(pid)
    futures = [await producer.send(batch[0].topic, value=v, key=k, headers=h) for k, v, h in messages]
    await asyncio.gather(*futures)
    while receiver.total(paths) - before < want and time.perf_counter() - started < 1800:
        await asyncio.sleep(0.05)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_started
    done = receiver.total(paths) - before
    print(f"  {done:,} of {want:,} webhooks in {elapsed:.1f} s")
    return done / elapsed, cpu / max(done, 1) * 1000


async def latency(producer: AIOKafkaProducer, receiver: Receiver, rate: float, seconds: float) -> list[float]:
    """Event-to-webhook times (ms) of events published one by one at `rate` a second."""
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for i in range(int(rate * seconds)):
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        event = registered(i)
        env = envelope_for(event, service="registry")
        key, value, headers = as_message(event, env)
        sent[env.id] = time.perf_counter()
        await producer.send(event.topic, value=value, key=key, headers=headers)
    deadline = time.perf_counter() + 60
    while any(i not in receiver.arrived for i in sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    return sorted((receiver.arrived[i] - t) * 1000 for i, t in sent.items() if i in receiver.arrived)


SPLIT = """
SELECT EXTRACT(EPOCH FROM r.received_at - r.time) * 1000, EXTRACT(EPOCH FROM d.last_attempt_at - r.received_at) * 1000,
       EXTRACT(EPOCH FROM d.delivered_at - d.last_attempt_at) * 1000
FROM ntf_deliveries d JOIN ntf_received_events r ON r.event_id = d.source_event_id
WHERE d.subscription_id = $1 AND d.status = 'delivered' AND r.time >= $2
"""


SPAN = """
SELECT EXTRACT(EPOCH FROM max(r.received_at) - min(r.time)), EXTRACT(EPOCH FROM max(d.delivered_at) - min(r.time))
FROM ntf_deliveries d JOIN ntf_received_events r ON r.event_id = d.source_event_id
WHERE d.subscription_id = $1 AND r.time >= $2
"""


async def _fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def burst_split(url: str, subscription_id: str, since: datetime) -> None:
    """How long the consumer took to keep (and plan) the burst, against the last delivery."""
    ((kept, delivered),) = await _fetch(url, SPAN, subscription_id, since)
    print(f"  the burst kept by the consumer in {kept:.1f} s, delivered to one subscriber in {delivered:.1f} s")


async def latency_split(url: str, subscription_id: str, since: datetime) -> None:
    """Where the latency run's time went, from the service's own timestamps: event time ->
    kept by the consumer -> claimed by the worker -> recorded as delivered."""
    rows = await _fetch(url, SPLIT, subscription_id, since)
    for i, name in enumerate(("published -> kept", "kept -> claimed", "claimed -> recorded")):
        values = sorted(float(r[i]) for r in rows)
        if values:
            p50, p99 = values[len(values) // 2], values[min(len(values) - 1, int(len(values) * 0.99))]
            print(f"  {name}: p50 {p50:.0f} ms, p99 {p99:.0f} ms")


def report(
    base: dict[str, float], one: tuple[float, float], twenty: tuple[float, float] | None, lat: list[float]
) -> None:
    rate, cpu = base["rate"], base["cpu_ms"]
    print(f"baseline, keep-alive POST loop in one process: {rate:,.0f} a second, {cpu:.3f} ms CPU a POST")
    for name, figures in (("1 subscriber", one), ("20 subscribers", twenty)):
        if figures is None:
            print(f"{name}: not measured")
            continue
        r, c = figures
        print(f"{name}: {r:,.0f} webhooks a second (x{r / rate:.2f} the baseline), ", end="")
        print(f"{c:.3f} ms CPU a webhook (x{c / cpu:.2f} the baseline)")
    p99 = float("inf")
    if lat:
        p50, p99 = lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        post_ms = 1000 / rate
        print(
            f"latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(lat)} events (x{p99 / post_ms:.0f} a baseline POST)"
        )
    else:
        print("latency: no webhook arrived")
    checks = (
        (f">= {TARGET_RATE:,} webhooks a second to one subscriber", one[0] >= TARGET_RATE, one[0] / TARGET_RATE),
        (f"<= {TARGET_CPU_MS} ms CPU a webhook", one[1] <= TARGET_CPU_MS, one[1] / TARGET_CPU_MS),
        (f"p99 < {TARGET_P99_MS} ms", p99 < TARGET_P99_MS, p99 / TARGET_P99_MS),
    )
    for name, met, ratio in checks:
        print(f"target {name}: {'met' if met else 'MISSED'} ({ratio:.2f}x the target)")


class ProfiledService(SubprocessService):
    """The service under cProfile (written to `out` when it stops on SIGTERM)."""

    def __init__(self, env: dict[str, str], log: Path, out: Path) -> None:
        super().__init__("notifications", env, log)
        self.out = out

    async def start(self) -> SubprocessService:
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        # uvicorn raises SIGTERM again once it has shut down: ignored here, so that the module
        # returns and cProfile writes its stats.
        code = "\n".join(
            [
                "import cProfile, runpy, signal, sys",
                "signal.signal(signal.SIGTERM, lambda *_: None)",
                f"sys.argv = [{self.module!r}, 'serve', '--port', '{self.port}']",
                "profile = cProfile.Profile()",
                "profile.enable()",
                "try:",
                f"    runpy.run_module({self.module!r}, run_name='__main__')",
                "finally:",
                "    profile.disable()",
                f"    profile.dump_stats({str(self.out)!r})",
            ]
        )
        command = ["-c", code]
        self.proc = subprocess.Popen(
            [sys.executable, *command], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        await wait_ready(self.url)
        return self


async def run(
    events: int,
    rate: float,
    seconds: float,
    profile: Path | None = None,
    twenty: bool = True,
    concurrency: int | None = None,
) -> None:
    use_postgres()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    url = database("notifications_webhook_bench")  # first: if PostgreSQL is away, no broker is left behind
    b = await asyncio.to_thread(broker)
    receiver = Receiver()
    work = Path(tempfile.mkdtemp(prefix="sikader-webhook-bench-"))
    (work / "rules.json").write_text("[]")
    env = service_env(
        "notifications",
        b.bootstrap,
        url,
        work,
        SIKADER_NOTIFICATIONS_HTTP_PORT=str(free_port()),
        SIKADER_NOTIFICATIONS_RULES_FILE=str(work / "rules.json"),
        SIKADER_NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",  # the receiver is on 127.0.0.1
    )
    if concurrency is not None:
        env["SIKADER_NOTIFICATIONS_WEBHOOK_CONCURRENCY"] = str(concurrency)
    svc, producer = None, AIOKafkaProducer(bootstrap_servers=b.bootstrap, acks="all", linger_ms=5)
    try:
        base = await asyncio.to_thread(baseline, receiver.url("/baseline"), max(events, 500))
        if profile is None:
            svc = await start_service("notifications", env, work / "notifications.log")
        else:
            svc = ProfiledService(env, work / "notifications.log", profile)
            await asyncio.to_thread(svc.migrate)
            await svc.start()
        assert svc.proc is not None
        key = await asyncio.to_thread(issue_key_with_cli, "notifications", env, "dinkes", "notifications:subscribe")
        await producer.start()
        async with httpx.AsyncClient(base_url=svc.url, headers={"authorization": f"Bearer {key}"}) as client:
            first = await subscribe(client, receiver.url("/s0"))
            print(f"burst of {events:,} events, 1 subscriber:")
            since = datetime.now(UTC)
            one = await burst(producer, receiver, ["/s0"], events, svc.proc.pid)
            await burst_split(url, first, since)
            many = None
            if twenty:
                ids = [await subscribe(client, receiver.url(f"/s{i}")) for i in range(1, 20)]
                print(f"burst of {events:,} events, 20 subscribers:")
                many = await burst(producer, receiver, [f"/s{i}" for i in range(20)], events, svc.proc.pid)
                for sub_id in ids:
                    (await client.delete(f"/subscriptions/{sub_id}")).raise_for_status()
            print(f"{rate:g} events a second for {seconds:g} s, 1 subscriber ({first}):")
            since = datetime.now(UTC)
            lat = await latency(producer, receiver, rate, seconds)
            await latency_split(url, first, since)
        report(base, one, many, lat)
        own = resource.getrusage(resource.RUSAGE_SELF)
        mine = own.ru_utime + own.ru_stime
        print(f"load average now {os.getloadavg()[0]:.1f}; this process (receiver, producer): {mine:.0f} s CPU")
    finally:
        await producer.stop()
        if svc is not None:
            await svc.stop()
        receiver.close()
        drop_database(url)
        await asyncio.to_thread(b.close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000, help="events in each burst")
    parser.add_argument("--rate", type=float, default=50.0, help="events a second in the latency run")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency run")
    parser.add_argument("--profile", type=Path, help="run the service under cProfile, its stats written here")
    parser.add_argument("--concurrency", type=int, help="the service's webhook_concurrency (default: its own, 8)")
    parser.add_argument("--no-twenty", action="store_true", help="skip the burst to 20 subscribers")
    parser.add_argument("--baseline-url", help=argparse.SUPPRESS)  # the baseline's own process
    args = parser.parse_args()
    if args.baseline_url:
        asyncio.run(_post_loop(args.baseline_url, args.events))
    else:
        asyncio.run(run(args.events, args.rate, args.seconds, args.profile, not args.no_twenty, args.concurrency))


if __name__ == "__main__":
    main()
