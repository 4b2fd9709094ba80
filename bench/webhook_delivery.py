"""Webhook delivery to one outside subscriber: how fast a burst of events reaches it.

The notifications service runs as its own process on PostgreSQL and the broker, with no
message rules (only the subscription's webhooks are delivered). One OPD subscribes to
CadreRegistered with a real HTTP receiver in this process; the benchmark publishes
`--events` CadreRegistered events at once, as a bulk import does, and measures the time until
the receiver has accepted them all, and the service's CPU per webhook. A subscription is one
ordered lane: its events go one after another, in order.

    python -m bench.webhook_delivery --events 2000
    python -m bench.webhook_delivery --events 200      # smoke size
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    broker,
    cpu_seconds,
    database,
    drop_database,
    machine,
    service_env,
    start_service,
    use_postgres,
)
from sikader_shared.events import CadreRegistered
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.kafka import as_message, envelope_for, publish_raw
from sikader_shared.testing.services import issue_key_with_cli

SECRET = "bench-webhook-secret-0123456789"


class Receiver:
    """Counts the POSTs it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.accepted += 1
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

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


async def run(events: int) -> None:
    use_postgres()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}")
    b = await asyncio.to_thread(broker)
    url = database("notifications_webhook_bench")
    receiver = Receiver()
    work = Path(tempfile.mkdtemp(prefix="sikader-webhook-bench-"))
    (work / "rules.json").write_text("[]")
    port = free_port()
    env = service_env(
        "notifications",
        b.bootstrap,
        url,
        work,
        SIKADER_NOTIFICATIONS_HTTP_PORT=str(port),
        SIKADER_NOTIFICATIONS_RULES_FILE=str(work / "rules.json"),
        SIKADER_NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",  # the receiver is on 127.0.0.1
        SIKADER_NOTIFICATIONS_WORKER_POLL_S="0.2",
    )
    svc = None
    try:
        svc = await start_service("notifications", env, work / "notifications.log")
        key = await asyncio.to_thread(issue_key_with_cli, "notifications", env, "dinkes", "notifications:subscribe")
        async with httpx.AsyncClient(base_url=svc.url, headers={"authorization": f"Bearer {key}"}) as client:
            for _ in range(100):  # the key reaches the service over sikader.auth.v1
                r = await client.post(
                    "/subscriptions",
                    json={"url": f"http://127.0.0.1:{receiver.port}/hook", "secret": SECRET,
                          "event_types": ["CadreRegistered"]},
                )  # fmt: skip
                if r.status_code == 201:
                    break
                await asyncio.sleep(0.2)
            else:
                raise RuntimeError(f"subscription refused: {r.status_code} {r.text}")
        burst = [registered(i) for i in range(events)]
        messages = [as_message(e, envelope_for(e, service="registry")) for e in burst]
        assert svc.proc is not None
        pid = svc.proc.pid
        started, cpu_started = time.perf_counter(), cpu_seconds(pid)
        await publish_raw(b.bootstrap, burst[0].topic, messages)
        while receiver.accepted < events and time.perf_counter() - started < 1800:
            await asyncio.sleep(0.2)
        elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_started
        print(
            f"{receiver.accepted:,} of {events:,} webhooks accepted in {elapsed:.1f} s: "
            f"{receiver.accepted / elapsed:,.0f} a second to one subscriber"
        )
        print(f"notifications CPU: {cpu:.1f} s ({cpu / max(receiver.accepted, 1) * 1000:.1f} ms a webhook)")
        print(f"load average now {os.getloadavg()[0]:.1f}")
    finally:
        if svc is not None:
            await svc.stop()
        receiver.close()
        drop_database(url)
        await asyncio.to_thread(b.close)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    asyncio.run(run(parser.parse_args().events))


if __name__ == "__main__":
    main()
