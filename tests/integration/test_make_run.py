"""`make run` (scripts/run_local.py) as a user runs it: the broker it picks (Apache Kafka where
Java 17 answers, else Tansu), four services, the admin key, clean shutdown on SIGINT/SIGTERM,
and data kept across restarts (on Apache Kafka without re-publishing anything)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sikader_shared import topics
from sikader_shared.kafka import list_topics
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.kafka import of_type, wait_for

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "certification", "incentives", "notifications")


def processes_with(var_dir: Path) -> list[int]:
    """PIDs whose environment names this run's var dir (the runner's children)."""
    marker = f"SIKADER_VAR_DIR={var_dir}".encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


MAIL_PORTS = {"SIKADER_DEV_SMTP_PORT": free_port(), "SIKADER_DEV_MAIL_HTTP_PORT": free_port()}
CONTROLLER_PORT = free_port()


async def repeated_events(bootstrap: str) -> dict[str, int]:
    """Per topic, how many records repeat a `ce_id` already on it: a re-published event does."""
    from sikader_shared.testing.kafka import headers_of, read_topic

    out = {}
    for topic in topics.all_topic_names():
        ids = [headers_of(r).get("ce_id") for r in await read_topic(bootstrap, topic, idle_polls=1)]
        out[topic] = len(ids) - len(set(ids))
    return out


async def start_run(var_dir: Path, ports: dict[str, int], broker_port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS" and not k.startswith("SIKADER_")}
    env.update({f"SIKADER_{s.upper()}_HTTP_PORT": str(p) for s, p in ports.items()})
    env.update(SIKADER_VAR_DIR=str(var_dir), SIKADER_LOCAL_BROKER_PORT=str(broker_port))
    env.update(SIKADER_LOCAL_BROKER_CONTROLLER_PORT=str(CONTROLLER_PORT))
    if os.environ.get("SIKADER_TEST_SKIP_APACHE_KAFKA") == "1":
        env["SIKADER_LOCAL_BROKER"] = "tansu"
    elif os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
        env["SIKADER_LOCAL_BROKER"] = "apache-kafka"
    env.update({k: str(v) for k, v in MAIL_PORTS.items()})
    out = open(var_dir.parent / f"run-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "run_local.py")], env=env, stdout=out, stderr=out)
    out.close()
    return proc


async def wait_all_ready(ports: dict[str, int], timeout: float) -> float:
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=2) as client:
        pending = dict(ports)
        while pending and time.monotonic() - started < timeout:
            for name, port in list(pending.items()):
                try:
                    r = await client.get(f"http://127.0.0.1:{port}/health/ready")
                    if r.status_code == 200 and r.json()["broker"]["status"] == "up":
                        pending.pop(name)
                except httpx.HTTPError:
                    pass
            await asyncio.sleep(0.2)
    assert not pending, f"not ready within {timeout}s: {sorted(pending)}"
    return time.monotonic() - started


async def stop_run(proc: subprocess.Popen[bytes], sig: int, var_dir: Path) -> float:
    started = time.monotonic()
    proc.send_signal(sig)
    await asyncio.to_thread(proc.wait, 25)
    elapsed = time.monotonic() - started
    await asyncio.sleep(0.2)
    assert processes_with(var_dir) == [], "processes left behind"
    return elapsed


async def test_make_run_starts_stops_and_keeps_data(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    ports = {s: free_port() for s in SERVICES}
    broker_port = free_port()
    bootstrap = f"127.0.0.1:{broker_port}"

    proc = await start_run(var_dir, ports, broker_port)
    try:
        assert await wait_all_ready(ports, 60) < 60
        names = await list_topics(bootstrap)
        assert set(topics.all_topic_names()) <= names
        for topic in topics.all_topic_names():
            assert topic in names
        key = await _wait_for_file(var_dir / "admin.key")
        async with httpx.AsyncClient(timeout=2, headers={"Authorization": f"Bearer {key}"}) as client:
            for _ in range(100):
                codes = [(await client.get(f"http://127.0.0.1:{p}/auth/whoami")).status_code for p in ports.values()]
                if codes == [200] * 4:
                    break
                await asyncio.sleep(0.2)
            assert codes == [200] * 4
        # the first-start hook ran (the demo data takes ~40 s on a quiet machine)
        assert await _wait_for_file(var_dir / "demo-data.loaded", timeout=240)
        async with httpx.AsyncClient(timeout=2) as client:
            mail_page = await client.get(f"http://127.0.0.1:{MAIL_PORTS['SIKADER_DEV_MAIL_HTTP_PORT']}/")
        assert mail_page.status_code == 200  # where received mail can be read
        apache_kafka = (var_dir / "kafka").exists()
        if os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
            assert apache_kafka, "make run did not start Apache Kafka"
        assert await stop_run(proc, signal.SIGINT, var_dir) < 20
        assert proc.returncode == 0

        # Second start. Apache Kafka: every event is still there and nothing is re-published.
        # Tansu: the broker is new and empty; data survives and is re-published.
        proc = await start_run(var_dir, ports, broker_port)
        await wait_all_ready(ports, 60)
        assert (var_dir / "admin.key").read_text().strip() == key
        issued = await wait_for(bootstrap, topics.AUTH, of_type("sikader.auth.ApiKeyIssued.v1"), timeout=30)
        assert len(issued) >= 1
        if apache_kafka:
            await asyncio.sleep(3)  # a re-publication would have started by now
            repeated = await repeated_events(bootstrap)
            assert not any(repeated.values()), f"events published again after the restart: {repeated}"
            assert len(issued) == 1
        async with httpx.AsyncClient(timeout=2, headers={"Authorization": f"Bearer {key}"}) as client:
            for port in ports.values():
                assert (await client.get(f"http://127.0.0.1:{port}/auth/whoami")).status_code == 200
        assert await stop_run(proc, signal.SIGTERM, var_dir) < 20
    finally:
        if proc.poll() is None:
            proc.kill()
        for pid in processes_with(var_dir):
            os.kill(pid, signal.SIGKILL)


async def _wait_for_file(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        await asyncio.sleep(0.2)
    raise AssertionError(f"{path} not written")
