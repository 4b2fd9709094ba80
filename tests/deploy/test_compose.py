"""Compose smoke test (issue 7): the real docker-compose.yml, brought up with docker-compose
through the container engine, plus deploy/compose.local-images.yml, which swaps only the two
images that cannot be pulled on this project's machines (Apache Kafka -> the local broker,
PostgreSQL -> a locally built PostgreSQL 15).

What it checks: every long-running container becomes healthy (podman runs no health checks on
its own here, so a background loop runs `podman healthcheck run` every few seconds, as the
notes in ../shared/notes/containers.md say); the topic job exits 0; all four services answer
/health/ready 200 with the broker up and every contract topic present; an API key issued with
the registry's CLI (`docker-compose exec registry ...`) is accepted by all four services
(GET /auth/whoami); the service databases survive a backup (pg_dump), the loss of every volume
and a restore (pg_restore), with the services healing the empty broker; `down -v` leaves
nothing behind. Timings go to var/compose-test/timings.json.

Marker `compose`, opt-in: runs with `pytest -m compose` (make test-compose) or
SIKADER_TEST_COMPOSE=1, and is skipped in a plain `make test`. Skipped with the reason when no
container engine answers, unless SIKADER_TEST_REQUIRE_CONTAINER=1 (then it fails).

Environment: DOCKER_HOST (default: podman's socket, then Docker's); SIKADER_COMPOSE_BUILD =
auto (default: build the service images that are missing or older than their sources) |
always | never; SIKADER_COMPOSE_PROJECT (default sikader-test-<pid>).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.support import COMPOSE, LOCAL, ROOT, SERVICES, clean_env, compose_cli, filled_env_file

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

REQUIRE = os.environ.get("SIKADER_TEST_REQUIRE_CONTAINER") == "1"
IMAGE_PREFIX = "localhost/sikader-"
LOCAL_IMAGES = ("localhost/sikader-tansu:latest", "localhost/debian-python:bookworm", "localhost/sikader-postgres:15")
LONG_RUNNING = ("kafka", "postgres", "mailcatcher", *SERVICES)
READY_TIMEOUT_S = 300
TIMINGS: dict[str, float] = {}


# -- engine, CLI, images ------------------------------------------------------------------------


def _unavailable(reason: str) -> None:
    if REQUIRE:
        pytest.fail(f"SIKADER_TEST_REQUIRE_CONTAINER=1 but {reason}")
    pytest.skip(reason)


def _ping(docker_host: str) -> bool:
    if not docker_host.startswith("unix://"):
        return False
    path = docker_host.removeprefix("unix://")
    if not os.path.exists(path):
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            s.connect(path)
            s.sendall(b"GET /_ping HTTP/1.0\r\nHost: engine\r\n\r\n")
            return b" 200 " in s.recv(1024)
    except OSError:
        return False


@dataclass
class Engine:
    docker_host: str
    compose: list[str]
    podman: str

    def env(self) -> dict[str, str]:
        return clean_env(DOCKER_HOST=self.docker_host)


def _run(cmd: list[str], env: dict[str, str], timeout: float, check: bool = True, **kw: Any) -> Any:
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} -> exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n"
            f"{proc.stderr[-4000:]}"
        )
    return proc


def _image_created(podman: str, image: str) -> float | None:
    proc = subprocess.run(
        [podman, "image", "inspect", "--format", "{{.Created}}", image], capture_output=True, text=True
    )
    if proc.returncode != 0:
        return None
    raw = proc.stdout.strip().split(" +")[0].split(" m=")[0]  # "2026-11-29 15:31:02.123456789 +0000 UTC"
    raw = raw.replace("T", " ").rstrip("Z")
    date, _, frac = raw.partition(".")
    stamp = datetime.fromisoformat(date + ("." + frac[:6] if frac else "") + "+00:00")
    return stamp.timestamp()


def _newest_source(service: str) -> float:
    newest = 0.0
    skip_dirs = {"__pycache__", "tests", "build", "dist", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
    for base in (ROOT / "shared", ROOT / "services" / service):
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in skip_dirs and not d.endswith(".egg-info")]
            for name in filenames:
                if not name.endswith((".pyc", ".db")):
                    newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
    for path in (ROOT / "deploy" / "Dockerfile", ROOT / "deploy" / "docker-entrypoint.sh"):
        newest = max(newest, path.stat().st_mtime)
    return newest


def _build_images(engine: Engine, log_dir: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    start = time.monotonic()
    _run([str(ROOT / "deploy/local-images/build.sh"), "--with-postgres"], env, timeout=900)
    TIMINGS["local_images_s"] = round(time.monotonic() - start, 1)

    mode = os.environ.get("SIKADER_COMPOSE_BUILD", "auto")
    stale = []
    for service in SERVICES:
        created = _image_created(engine.podman, f"{IMAGE_PREFIX}{service}:latest")
        if mode == "always" or created is None or (mode == "auto" and created < _newest_source(service)):
            stale.append(service)
    if mode == "never":
        stale = [s for s in stale if _image_created(engine.podman, f"{IMAGE_PREFIX}{s}:latest") is None]
    start = time.monotonic()
    if stale:
        env = {**os.environ, "LOG_DIR": str(log_dir), "IMAGE_PREFIX": IMAGE_PREFIX, "TAG": "latest"}
        _run([str(ROOT / "deploy/build-images.sh"), *stale], env, timeout=1500)
    TIMINGS["service_images_s"] = round(time.monotonic() - start, 1)
    TIMINGS["service_images_built"] = len(stale)


# -- health loop --------------------------------------------------------------------------------


class HealthLoop(threading.Thread):
    """podman runs health checks from systemd timers; without systemd nobody runs them and
    `service_healthy` would wait for ever. This runs them for the project's containers."""

    def __init__(self, podman: str, project: str, interval: float = 3.0) -> None:
        super().__init__(daemon=True, name="podman-healthchecks")
        self.podman, self.project, self.interval = podman, project, interval
        self.halt = threading.Event()
        self.rounds = 0

    def run(self) -> None:
        while not self.halt.is_set():
            ids = subprocess.run(
                [self.podman, "ps", "-q", "--filter", f"label=com.docker.compose.project={self.project}"],
                capture_output=True,
                text=True,
            ).stdout.split()
            procs = [
                subprocess.Popen(
                    [self.podman, "healthcheck", "run", cid], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                for cid in ids
            ]
            for p in procs:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            self.rounds += 1
            self.halt.wait(self.interval)


# -- the stack ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    engine: Engine
    project: str
    env_file: Path
    ports: dict[str, int]
    workdir: Path
    state: dict[str, Any] = field(default_factory=dict)

    def compose(self, *args: str, timeout: float = 300, check: bool = True, **kw: Any) -> Any:
        cmd = [
            *self.engine.compose,
            "--env-file",
            str(self.env_file),
            "-f",
            str(COMPOSE),
            "-f",
            str(LOCAL),
            "-p",
            self.project,
            "--profile",
            "dev",
            *args,
        ]
        return _run(cmd, self.engine.env(), timeout=timeout, check=check, **kw)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def container(self, service: str) -> str | None:
        out = _run(
            [
                self.engine.podman,
                "ps",
                "-a",
                "-q",
                "--filter",
                f"label=com.docker.compose.project={self.project}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ],
            self.engine.env(),
            timeout=30,
        ).stdout.split()
        return out[0] if out else None

    def inspect(self, service: str) -> dict[str, Any]:
        cid = self.container(service)
        assert cid, f"no container for {service}"
        data = json.loads(_run([self.engine.podman, "inspect", cid], self.engine.env(), timeout=30).stdout)
        return data[0]  # type: ignore[no-any-return]


def _get(url: str, key: str | None = None, timeout: float = 5) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body[:1] in (b"{", b"[") else body.decode()
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (urllib.error.URLError, OSError, ValueError):
        return 0, None


def _health(stack: Stack, service: str) -> str:
    return _healths(stack).get(service, "missing")


def _healths(stack: Stack) -> dict[str, str]:
    """Service -> health status of its (first) container, one `podman inspect` for all."""
    ids = _run(
        [stack.engine.podman, "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"],
        stack.engine.env(),
        timeout=60,
    ).stdout.split()
    if not ids:
        return {}
    out: dict[str, str] = {}
    for info in json.loads(_run([stack.engine.podman, "inspect", *ids], stack.engine.env(), timeout=60).stdout):
        service = (info.get("Config", {}).get("Labels") or {}).get("com.docker.compose.service", "?")
        state = info.get("State", {})
        health = state.get("Health") or state.get("Healthcheck") or {}
        out.setdefault(service, str(health.get("Status", "none")))
    return out


def _wait_ready(stack: Stack, deadline_s: float = READY_TIMEOUT_S) -> float:
    """Until the four services are ready with the broker up and every long-running container
    is healthy. Returns the seconds it took."""
    start = time.monotonic()
    last: dict[str, Any] = {}
    while time.monotonic() - start < deadline_s:
        pending = []
        for service in SERVICES:
            status, body = _get(stack.url(service, "/health/ready"))
            last[service] = (status, body)
            if status != 200 or not isinstance(body, dict) or body.get("broker", {}).get("status") != "up":
                pending.append(service)
        if not pending:
            healths = _healths(stack)
            health = {s: healths.get(s, "missing") for s in LONG_RUNNING}
            last["health"] = health
            if all(h == "healthy" for h in health.values()):
                return time.monotonic() - start
        time.sleep(2)
    logs = stack.compose("logs", "--no-color", "--tail", "40", timeout=120, check=False).stdout
    raise AssertionError(f"stack not ready after {deadline_s} s: {last}\n--- logs\n{logs[-12000:]}")


def _issue_key(stack: Stack, client: str) -> dict[str, Any]:
    out = stack.compose(
        "exec",
        "-T",
        "registry",
        "python",
        "-m",
        "registry.entrypoints.cli",
        "keys",
        "issue",
        "--client",
        client,
        "--scopes",
        "admin",
        "--label",
        "compose smoke test",
        timeout=120,
    ).stdout
    issued = json.loads(out[out.index("{") :])
    assert issued["client_id"] == client and issued["key"]
    return issued  # type: ignore[no-any-return]


def _key_accepted_everywhere(stack: Stack, issued: dict[str, Any], within_s: float = 60) -> float:
    start = time.monotonic()
    waiting = set(SERVICES)
    answers: dict[str, Any] = {}
    while waiting and time.monotonic() - start < within_s:
        for service in sorted(waiting):
            status, body = _get(stack.url(service, "/auth/whoami"), issued["key"])
            answers[service] = (status, body)
            if status == 200:
                assert body["client_id"] == issued["client_id"] and body["key_id"] == issued["key_id"], body
                assert "admin" in body["scopes"]
                waiting.discard(service)
        if waiting:
            time.sleep(0.5)
    assert not waiting, f"key not accepted within {within_s} s by {sorted(waiting)}: {answers}"
    return time.monotonic() - start


@pytest.fixture(scope="module")
def engine(request: pytest.FixtureRequest) -> Engine:
    markexpr = request.config.getoption("markexpr", "") or ""
    selected = ("compose" in markexpr and "not compose" not in markexpr) or os.environ.get(
        "SIKADER_TEST_COMPOSE"
    ) == "1"
    if not selected:
        pytest.skip("compose smoke test: opt-in, run `make test-compose` (pytest -m compose) or SIKADER_TEST_COMPOSE=1")
    candidates = [os.environ.get("DOCKER_HOST", ""), "unix:///run/podman/podman.sock", "unix:///var/run/docker.sock"]
    docker_host = next((h for h in candidates if h and _ping(h)), None)
    if docker_host is None:
        _unavailable("no container engine answers (DOCKER_HOST, /run/podman/podman.sock, /var/run/docker.sock)")
    cli = compose_cli()
    if cli is None:
        _unavailable("docker-compose is not installed")
    podman = shutil.which("podman")
    if podman is None:
        _unavailable("podman is not installed (the substitute images are built with it)")
    assert docker_host and cli and podman
    return Engine(docker_host=docker_host, compose=cli, podman=podman)


@pytest.fixture(scope="module")
def stack(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from sikader_shared.crypto import new_key

    workdir = tmp_path_factory.mktemp("compose")
    _build_images(engine, workdir / "build-logs")

    ports = {name: _free_port() for name in (*SERVICES, "mailcatcher", "kafka")}
    project = os.environ.get("SIKADER_COMPOSE_PROJECT") or f"sikader-test-{os.getpid()}"
    extra = {
        "COMPOSE_PROJECT_NAME": project,
        "SIKADER_IMAGE_PREFIX": IMAGE_PREFIX,
        "SIKADER_IMAGE_TAG": "latest",
        "SIKADER_BIND_ADDRESS": "127.0.0.1",
        "KAFKA_EXTERNAL_PORT": str(ports["kafka"]),
        "SIKADER_MAILCATCHER_HOST_PORT": str(ports["mailcatcher"]),
        "SIKADER_CONTACT_KEY": new_key(),
        "SIKADER_PAYMENT_KEY": new_key(),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "SIKADER_REGISTRY_NIK_PEPPER": secrets.token_hex(16),
        **{f"SIKADER_{s.upper()}_HOST_PORT": str(ports[s]) for s in SERVICES},
        **{f"SIKADER_{s.upper()}_DB_PASSWORD": secrets.token_hex(16) for s in SERVICES},
    }
    env_file = filled_env_file(workdir / "compose.env", extra)
    s = Stack(engine=engine, project=project, env_file=env_file, ports=ports, workdir=workdir)

    loop = HealthLoop(engine.podman, project)
    loop.start()
    s.compose("down", "-v", "--remove-orphans", timeout=300, check=False)  # leftovers of a killed run
    try:
        start = time.monotonic()
        s.compose("up", "-d", "--no-build", timeout=600)
        TIMINGS["up_command_s"] = round(time.monotonic() - start, 1)
        _wait_ready(s)
        TIMINGS["up_to_healthy_s"] = round(time.monotonic() - start, 1)
        yield s
    finally:
        start = time.monotonic()
        down = s.compose("down", "-v", "--remove-orphans", "--timeout", "30", timeout=600, check=False)
        TIMINGS["down_s"] = round(time.monotonic() - start, 1)
        loop.halt.set()
        loop.join(timeout=90)
        left = _run(
            [engine.podman, "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            engine.env(),
            timeout=60,
            check=False,
        ).stdout.split()
        volumes = _run(
            [engine.podman, "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"],
            engine.env(),
            timeout=60,
            check=False,
        ).stdout.split()
        out = ROOT / "var" / "compose-test"
        out.mkdir(parents=True, exist_ok=True)
        (out / "timings.json").write_text(json.dumps({"project": project, **TIMINGS}, indent=2) + "\n")
        print(f"\ncompose smoke test timings: {json.dumps(TIMINGS)}")
        assert down.returncode == 0, down.stderr
        assert not left and not volumes, f"down -v left containers {left} / volumes {volumes}"


# -- the tests ----------------------------------------------------------------------------------


def test_stack_is_healthy_and_a_key_issued_with_the_cli_works_everywhere(stack: Stack) -> None:
    # the one-shot topic job ran and succeeded
    topics = stack.inspect("topics")["State"]
    assert topics.get("ExitCode") == 0 and topics.get("Status") in ("exited", "stopped"), topics
    # every contract topic is there, seen from inside the network
    check = stack.compose(
        "exec", "-T", "registry", "python", "-m", "sikader_shared.topics_job", "--check", "--wait", "30", timeout=120
    )
    assert '"msg": "topics ready"' in check.stdout, check.stdout
    # each service: ready, migrated, broker up, metrics exported
    for service in SERVICES:
        status, body = _get(stack.url(service, "/health/ready"))
        assert status == 200 and body["database"] == {"status": "up", "migrated": True}, body
        assert body["broker"]["status"] == "up", body
        status, text = _get(stack.url(service, "/metrics"))
        assert status == 200 and "sikader_broker_up 1.0" in text and "sikader_outbox_backlog" in text
        assert _get(stack.url(service, "/auth/whoami"))[0] == 401
    # the dev SMTP catcher answers
    assert _get(f"http://127.0.0.1:{stack.ports['mailcatcher']}/")[0] == 200

    start = time.monotonic()
    issued = _issue_key(stack, "compose-smoke")
    TIMINGS["key_issue_s"] = round(time.monotonic() - start, 1)
    TIMINGS["key_accepted_everywhere_s"] = round(_key_accepted_everywhere(stack, issued), 1)
    stack.state["key"] = issued


def test_service_databases_survive_backup_volume_loss_and_restore(stack: Stack) -> None:
    """The procedure of deploy/OPERATIONS.md: pg_dump per service database; lose every volume
    (PostgreSQL and Kafka); start PostgreSQL alone (its init script makes empty databases);
    pg_restore; start everything. The services find an empty broker, re-create the topics and
    re-publish their outboxes; the key issued before the backup works everywhere again."""
    issued = stack.state.get("key") or _issue_key(stack, "compose-restore")
    start = time.monotonic()
    # `podman exec` straight into the container: the same command as `docker compose exec -T
    # postgres ...` in OPERATIONS.md, without a docker-compose start-up (seconds) per database
    postgres = stack.container("postgres")
    assert postgres
    dumps = {}
    for service in SERVICES:
        path = stack.workdir / f"{service}.dump"
        with path.open("wb") as out:
            proc = subprocess.run(
                [
                    stack.engine.podman,
                    "exec",
                    postgres,
                    "pg_dump",
                    "-U",
                    "postgres",
                    "--format=custom",
                    f"sikader_{service}",
                ],
                env=stack.engine.env(),
                stdout=out,
                stderr=subprocess.PIPE,
                timeout=300,
            )
        assert proc.returncode == 0, proc.stderr.decode()
        assert path.stat().st_size > 1000
        dumps[service] = path
    TIMINGS["backup_s"] = round(time.monotonic() - start, 1)

    start = time.monotonic()
    stack.compose("down", "-v", "--timeout", "30", timeout=600)
    stack.compose("up", "-d", "--no-build", "postgres", timeout=300)
    deadline = time.monotonic() + 120
    while _health(stack, "postgres") != "healthy":
        assert time.monotonic() < deadline, "postgres not healthy after 120 s"
        time.sleep(1)
    postgres = stack.container("postgres")
    assert postgres
    for service, path in dumps.items():
        with path.open("rb") as dump:
            proc = subprocess.run(
                [
                    stack.engine.podman,
                    "exec",
                    "-i",
                    postgres,
                    "pg_restore",
                    "-U",
                    "postgres",
                    "--dbname",
                    f"sikader_{service}",
                    "--no-owner",
                    f"--role=sikader_{service}",
                    "--exit-on-error",
                ],
                env=stack.engine.env(),
                stdin=dump,
                capture_output=True,
                timeout=300,
            )
        assert proc.returncode == 0, proc.stderr.decode()
    stack.compose("up", "-d", "--no-build", timeout=600)
    _wait_ready(stack)
    _key_accepted_everywhere(stack, issued)
    TIMINGS["restore_to_key_accepted_s"] = round(time.monotonic() - start, 1)
    # nothing left unpublished, and the registry healed the empty broker
    status, body = _get(stack.url("registry", "/health/ready"))
    assert status == 200 and body["outbox_backlog"] == 0, body
    logs = stack.compose("logs", "--no-color", "registry", timeout=120).stdout
    assert "broker reset detected" in logs
