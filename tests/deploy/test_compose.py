"""Compose smoke test (issue 7): the real docker-compose.yml, brought up with docker-compose
through the container engine, plus deploy/compose.local-images.yml, which swaps only the two
images that cannot be pulled on this project's machines (apache/kafka -> Apache Kafka built
locally from the same Maven jars, with the official image's interface; PostgreSQL -> a locally
built PostgreSQL 15).

What it checks: every long-running container becomes healthy (podman runs no health checks on
its own here, so a background loop runs `podman healthcheck run` every few seconds, as the
notes in ../shared/notes/containers.md say); the topic job exits 0; all four services answer
/health/ready 200 with the broker up and every contract topic present; an API key issued with
the registry's CLI (`docker-compose exec registry ...`) is accepted by all four services
(GET /auth/whoami); a smoke story through the HTTP APIs, with the payloads of
tests/integration/test_cross_service.py and a key per OPD client with only its scopes: a
Posyandu registered, assessed and verified, a cadre registered there and certified (Purwa),
incentives saying the cadre is eligible this month (GET /eligibility/{cadre_id}); the stack
restarted (`down` without -v, `up -d`: new containers, the same named volumes) with the story's
data, the certificate's public verification, the eligibility and every key still there; the
service databases survive a backup (pg_dump), the loss of every volume and a restore
(pg_restore), with the services healing the empty broker (the story's data comes back too);
`down -v` leaves nothing behind. Timings go to var/compose-test/timings.json.

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
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sikader_shared.local_kafka import kafka_version
from tests.deploy.support import (
    APPS,
    COMPOSE,
    CONSOLE,
    LOCAL,
    ROOT,
    SERVICES,
    clean_env,
    compose_cli,
    filled_env_file,
    make_nik,
)

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]

REQUIRE = os.environ.get("SIKADER_TEST_REQUIRE_CONTAINER") == "1"
IMAGE_PREFIX = "localhost/sikader-"
LOCAL_IMAGES = (
    f"localhost/sikader-kafka:{kafka_version()}",
    "localhost/debian-python:bookworm",
    "localhost/sikader-postgres:15",
)
LONG_RUNNING = ("kafka", "postgres", "mailcatcher", *SERVICES, CONSOLE)
READY_TIMEOUT_S = 300
STORY_WAIT_S = 180  # generous: events cross the broker, the machine may be loaded
TIMINGS: dict[str, float] = {}

# The smoke story, as tests/integration/test_cross_service.py tells it: who does what (each an
# OPD client with only the scopes it needs), the cadre, and the incentive rules it must pass.
STORY_KEYS = {
    "dinsos": ("registry:read", "registry:write"),
    "dinkes": ("registry:read", "posyandu:verify"),
    "puskesmas-kli": ("certification:assess",),
    "dprd": ("incentives:read",),
}
BIRTH = date(1988, 4, 12)
NIK = make_nik(BIRTH, "F")
KELURAHAN = "64.71.06.1002"
RULES = ["cadre_active", "certificate_valid", "posyandu_verified", "posyandu_open", "posyandu_cap", "budget"]


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
    _run([str(ROOT / "deploy/local-images/build.sh"), "--with-kafka", "--with-postgres"], env, timeout=900)
    TIMINGS["local_images_s"] = round(time.monotonic() - start, 1)

    mode = os.environ.get("SIKADER_COMPOSE_BUILD", "auto")
    stale = []
    for service in APPS:
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
    files: tuple[Path, ...] = (COMPOSE, LOCAL)
    long_running: tuple[str, ...] = LONG_RUNNING

    def compose(self, *args: str, timeout: float = 300, check: bool = True, **kw: Any) -> Any:
        cmd = [
            *self.engine.compose,
            "--env-file",
            str(self.env_file),
            *(arg for path in self.files for arg in ("-f", str(path))),
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


def _call(method: str, url: str, key: str | None = None, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """One HTTP request with a JSON body (if any): (status, parsed JSON or text), error
    answers included (their body says why); (0, reason) when nothing answered."""
    headers = {"Accept": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, repr(exc)
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def _eventually(check: Any, what: str, timeout: float = STORY_WAIT_S, every: float = 1.0) -> Any:
    """Calls `check` until it returns something truthy; fails with its last answer."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        ok, last = check()
        if ok:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s (last answer: {last!r})")
        time.sleep(every)


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
        status, body = _get(stack.url(CONSOLE, "/health/ready"))  # no broker: migrated is ready
        last[CONSOLE] = (status, body)
        if status != 200:
            pending.append(CONSOLE)
        if not pending:
            healths = _healths(stack)
            health = {s: healths.get(s, "missing") for s in stack.long_running}
            last["health"] = health
            if all(h == "healthy" for h in health.values()):
                return time.monotonic() - start
        time.sleep(2)
    logs = stack.compose("logs", "--no-color", "--tail", "40", timeout=120, check=False).stdout
    raise AssertionError(f"stack not ready after {deadline_s} s: {last}\n--- logs\n{logs[-12000:]}")


def _issue_key(
    stack: Stack, client: str, scopes: tuple[str, ...] = ("admin",), *, via: str = "compose"
) -> dict[str, Any]:
    """A key issued with the registry container's CLI: through `docker-compose exec` (the
    operator's command in OPERATIONS.md), or `podman exec` into the same container (the same
    command without a docker-compose start-up of several seconds per key)."""
    cli = [
        "python",
        "-m",
        "registry.entrypoints.cli",
        "keys",
        "issue",
        "--client",
        client,
        "--scopes",
        ",".join(scopes),
        "--label",
        "compose smoke test",
    ]
    if via == "compose":
        out = stack.compose("exec", "-T", "registry", *cli, timeout=120).stdout
    else:
        registry = stack.container("registry")
        assert registry, "no registry container"
        out = _run([stack.engine.podman, "exec", registry, *cli], stack.engine.env(), timeout=120).stdout
    issued = json.loads(out[out.index("{") :])
    assert issued["client_id"] == client and issued["key"]
    issued["scopes"] = list(scopes)
    return issued  # type: ignore[no-any-return]


def _keys_accepted(
    stack: Stack, keys: list[dict[str, Any]], services: tuple[str, ...] = SERVICES, within_s: float = 120
) -> float:
    """Until every key answers GET /auth/whoami 200 (its client, key id and scopes) on every
    one of `services`. Returns the seconds it took."""
    start = time.monotonic()
    waiting = {(service, issued["key_id"]): issued for service in services for issued in keys}
    answers: dict[Any, Any] = {}
    while waiting and time.monotonic() - start < within_s:
        for (service, key_id), issued in sorted(waiting.items()):
            status, body = _get(stack.url(service, "/auth/whoami"), issued["key"])
            answers[(service, issued["client_id"])] = (status, body)
            if status == 200:
                assert body["client_id"] == issued["client_id"] and body["key_id"] == key_id, body
                assert set(issued["scopes"]) <= set(body["scopes"]), body
                del waiting[(service, key_id)]
        if waiting:
            time.sleep(0.5)
    missing = sorted((service, issued["client_id"]) for (service, _), issued in waiting.items())
    assert not waiting, f"keys not accepted within {within_s} s: {missing}: {answers}"
    return time.monotonic() - start


def _key_accepted_everywhere(stack: Stack, issued: dict[str, Any], within_s: float = 120) -> float:
    return _keys_accepted(stack, [issued], SERVICES, within_s)


# -- the smoke story ----------------------------------------------------------------------------


def _project_volumes(stack: Stack) -> dict[str, str]:
    """Name -> creation time of the project's named volumes."""
    names = _run(
        [stack.engine.podman, "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"],
        stack.engine.env(),
        timeout=60,
    ).stdout.split()
    if not names:
        return {}
    info = json.loads(_run([stack.engine.podman, "volume", "inspect", *names], stack.engine.env(), timeout=60).stdout)
    return {v["Name"]: str(v.get("CreatedAt")) for v in info}


def _story_keys(stack: Stack) -> list[dict[str, Any]]:
    keys = list(stack.state.get("story", {}).get("keys", {}).values())
    return [stack.state["key"], *keys] if "key" in stack.state else keys


def _check_story_data(stack: Stack, story: dict[str, Any]) -> None:
    """What the smoke story wrote is all there: the verified Posyandu and the active cadre at
    the registry, the cadre and its valid certificate at certification (public verification),
    the same eligibility at incentives."""
    key = {client: issued["key"] for client, issued in story["keys"].items()}
    posyandu_id, cadre_id, number = story["posyandu_id"], story["cadre_id"], story["number"]

    status, posyandu = _call("GET", stack.url("registry", f"/posyandu/{posyandu_id}"), key["dinkes"])
    assert status == 200, posyandu
    assert (posyandu["name"], posyandu["verification_status"], posyandu["status"]) == (
        "Posyandu Anggrek",
        "VERIFIED",
        "active",
    ), posyandu
    status, cadre = _call("GET", stack.url("registry", f"/cadres/{cadre_id}"), key["dinsos"])
    assert status == 200, cadre
    assert (cadre["name"], cadre["posyandu_id"], cadre["status"]) == ("Rahmawati Said", posyandu_id, "active"), cadre

    status, known = _call("GET", stack.url("certification", f"/cadres/{cadre_id}"), key["puskesmas-kli"])
    assert status == 200 and known["posyandu_id"] == posyandu_id, known
    status, certificates = _call(
        "GET", stack.url("certification", f"/certificates?cadre_id={cadre_id}"), key["puskesmas-kli"]
    )
    assert status == 200 and [(c["number"], c["status"]) for c in certificates] == [(number, "valid")], certificates
    status, verified = _call("GET", stack.url("certification", f"/certificates/{_quote(number)}/verify"))
    assert status == 200 and (verified["number"], verified["status"], verified["level"]) == (
        number,
        "valid",
        "Purwa",
    ), verified

    def same_eligibility() -> tuple[bool, Any]:
        status, answer = _eligibility(stack, key["dprd"], cadre_id, story["period"])
        ok = status == 200 and (answer["eligible"], answer["amount"], answer["policy_version"]) == (
            True,
            story["amount"],
            story["policy_version"],
        )
        return ok, (status, answer)

    answer = _eventually(same_eligibility, "the same eligibility at incentives")
    assert [r["rule"] for r in answer[1]["reasons"]] == RULES and all(r["passed"] for r in answer[1]["reasons"])


def _quote(number: str) -> str:
    return urllib.parse.quote(number, safe="/")


def _eligibility(stack: Stack, key: str, cadre_id: str, period: str) -> tuple[int, Any]:
    return _call("GET", stack.url("incentives", f"/eligibility/{cadre_id}?period={period}"), key)


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
    yield from up_stack(engine, tmp_path_factory, "compose")


def up_stack(
    engine: Engine,
    tmp_path_factory: pytest.TempPathFactory,
    name: str,
    files: tuple[Path, ...] = (COMPOSE, LOCAL),
    long_running: tuple[str, ...] = LONG_RUNNING,
    settings: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """The stack up (images built first), healthy and ready; `down -v` afterwards, checked."""
    from sikader_shared.crypto import new_key

    workdir = tmp_path_factory.mktemp(name)
    _build_images(engine, workdir / "build-logs")

    ports = {name: _free_port() for name in (*APPS, "mailcatcher", "kafka", "kafka-2", "kafka-3")}
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
        **{f"SIKADER_{s.upper()}_HOST_PORT": str(ports[s]) for s in APPS},
        **{f"SIKADER_{s.upper()}_DB_PASSWORD": secrets.token_hex(16) for s in APPS},
        "SIKADER_CONSOLE_SESSION_KEY": new_key(),
        "SIKADER_CONSOLE_SECURE_COOKIES": "false",  # plain http to 127.0.0.1 here
        "KAFKA_EXTERNAL_PORT_2": str(ports["kafka-2"]),
        "KAFKA_EXTERNAL_PORT_3": str(ports["kafka-3"]),
        **(settings or {}),
    }
    env_file = filled_env_file(workdir / "compose.env", extra)
    s = Stack(engine, project, env_file, ports, workdir, files=files, long_running=long_running)

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
        timings = out / ("timings.json" if name == "compose" else f"timings-{name}.json")
        timings.write_text(json.dumps({"project": project, **TIMINGS}, indent=2) + "\n")
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


def test_the_console_answers_and_a_key_signs_in(stack: Stack) -> None:
    """The console through compose: ready (its database migrated), the sign-in page served, and
    the key issued with the registry's CLI signs in and opens the map, which the console builds
    from the services' APIs over its network."""
    import re

    import httpx

    status, body = _get(stack.url(CONSOLE, "/health/ready"))
    assert status == 200, body
    issued = stack.state.get("key") or _issue_key(stack, "compose-console")
    _key_accepted_everywhere(stack, issued)
    with httpx.Client(base_url=stack.url(CONSOLE, ""), follow_redirects=False, timeout=30) as client:
        page = client.get("/masuk")
        assert page.status_code == 200 and 'id="api-key"' in page.text, page.text[:500]
        assert "script-src 'self'" in page.headers.get("content-security-policy", ""), page.headers
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token, page.text[:500]
        signed = client.post("/masuk", data={"api_key": issued["key"], "csrf_token": token.group(1)})
        assert signed.status_code == 303 and signed.headers["location"].endswith("/peta"), signed.text[:500]
        peta = client.get("/peta")
        assert peta.status_code == 200 and 'id="map"' in peta.text, peta.text[:500]


def test_smoke_story_verify_a_posyandu_register_and_certify_a_cadre_then_eligible(stack: Stack) -> None:
    """Through the HTTP APIs only, with the payloads of tests/integration/test_cross_service.py:
    Dinsos registers a Posyandu and records a facility assessment, Dinkes verifies it; Dinsos
    registers a cadre there; the Puskesmas assesses skill groups 1-3 (Purwa) once
    certification knows the cadre; incentives then says the cadre is eligible this month."""
    start = time.monotonic()
    keys = {client: _issue_key(stack, client, scopes, via="podman") for client, scopes in STORY_KEYS.items()}
    _keys_accepted(stack, list(keys.values()))
    TIMINGS["story_keys_s"] = round(time.monotonic() - start, 1)
    key = {client: issued["key"] for client, issued in keys.items()}
    from sikader_shared.clock import WITA

    now = datetime.now(UTC).astimezone(WITA)
    today, period = now.date().isoformat(), now.strftime("%Y-%m")

    def registry(path: str) -> str:
        return stack.url("registry", path)

    def certification(path: str) -> str:
        return stack.url("certification", path)

    # ------------------------------------------------------------------ registry
    # A Posyandu with its founding decree, assessed, then VERIFIED by Dinkes.
    status, posyandu = _call(
        "POST",
        registry("/posyandu"),
        key["dinsos"],
        {
            "name": "Posyandu Anggrek",
            "kelurahan_code": KELURAHAN,
            "posyandu_type": "balita",
            "rt": "007",
            "puskesmas": "Puskesmas Klandasan Ilir",
            "institution": {"sk_number": "188.4/31/KLI/2025", "sk_date": "2025-02-03"},
        },
    )
    assert status == 201, posyandu
    posyandu_id = posyandu["id"]
    status, body = _call(
        "POST",
        registry(f"/posyandu/{posyandu_id}/assessments"),
        key["dinsos"],
        {
            "facility_status": "public_building",
            "equipment": [{"item": "dacin", "available": True, "functional": True}],
            "assessed_by": "Puskesmas Klandasan Ilir",
            "assessed_on": today,
        },
    )
    assert status == 201, body
    status, body = _call(
        "POST",
        registry(f"/posyandu/{posyandu_id}/verification"),
        key["dinkes"],
        {"decision": "VERIFIED", "note": "checked on site"},
    )
    assert status == 201, body
    status, body = _call("GET", registry(f"/posyandu/{posyandu_id}"), key["dinkes"])
    assert status == 200 and body["verification_status"] == "VERIFIED", body
    assert body["facility_status"] == "public_building", body

    # A cadre registered there.
    status, cadre = _call(
        "POST",
        registry("/cadres"),
        key["dinsos"],
        {
            "nik": NIK,
            "name": "Rahmawati Said",
            "sex": "F",
            "birth_date": BIRTH.isoformat(),
            "phone": "0812-7788-9900",
            "roles": ["posyandu_cadre"],
            "posyandu_id": posyandu_id,
            "posyandu_role": "core",
            "joined_on": "2018-06-01",
            "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "0098765432"},
        },
    )
    assert status == 201, cadre
    cadre_id = cadre["id"]
    assert (cadre["posyandu_id"], cadre["status"]) == (posyandu_id, "active"), cadre

    # ------------------------------------------------------------------ certification
    def cadre_known() -> tuple[bool, Any]:
        status, body = _call("GET", certification(f"/cadres/{cadre_id}"), key["puskesmas-kli"])
        return status == 200 and body.get("status") == "active", (status, body)

    known = _eventually(cadre_known, "certification knows the cadre (CadreRegistered over Kafka)")
    assert known[1]["posyandu_id"] == posyandu_id, known

    # Groups 1 (Posyandu management), 2 (infants) and 3 complete: Purwa.
    results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
    status, outcome = _call(
        "POST",
        certification("/assessments"),
        key["puskesmas-kli"],
        {"cadre_id": cadre_id, "assessor": "Puskesmas Klandasan Ilir", "assessed_on": today, "results": results},
    )
    assert status == 201, outcome
    assert (outcome["level"], outcome["certificate_action"]) == ("Purwa", "issue"), outcome
    status, certificates = _call("GET", certification(f"/certificates?cadre_id={cadre_id}"), key["puskesmas-kli"])
    assert status == 200 and len(certificates) == 1, certificates
    [certificate] = certificates
    assert (certificate["level"], certificate["status"]) == ("Purwa", "valid"), certificate
    number = certificate["number"]
    status, verified = _call("GET", certification(f"/certificates/{_quote(number)}/verify"))  # public, no key
    assert status == 200 and (verified["status"], verified["level"]) == ("valid", "Purwa"), verified

    # ------------------------------------------------------------------ incentives
    def eligible() -> tuple[bool, Any]:
        status, body = _eligibility(stack, key["dprd"], cadre_id, period)
        ok = status == 200 and body.get("eligible") is True and (body.get("amount") or 0) > 0
        return ok, (status, body)

    _, answer = _eventually(eligible, f"incentives says cadre {cadre_id} is eligible for {period}")
    assert (answer["level"], answer["posyandu_id"], answer["kelurahan_code"]) == ("Purwa", posyandu_id, KELURAHAN)
    assert answer["period"] == period and answer["policy_version"], answer
    assert [r["rule"] for r in answer["reasons"]] == RULES and all(r["passed"] for r in answer["reasons"]), answer
    certificate_reason = next(r for r in answer["reasons"] if r["rule"] == "certificate_valid")
    assert number in certificate_reason["text_en"], certificate_reason
    TIMINGS["story_s"] = round(time.monotonic() - start, 1)

    stack.state["story"] = {
        "keys": keys,
        "posyandu_id": posyandu_id,
        "cadre_id": cadre_id,
        "number": number,
        "period": period,
        "amount": answer["amount"],
        "policy_version": answer["policy_version"],
    }


def test_story_data_and_keys_survive_a_restart_of_the_stack(stack: Stack) -> None:
    """`down` without -v, then `up -d`: every container is recreated, the named volumes are
    kept (Kafka's log too: the topics and the consumers' offsets are still there). The Posyandu,
    the cadre, the certificate and the eligibility are still there, and every key issued before
    still works on every service."""
    story = stack.state.get("story")
    if story is None:
        pytest.skip("the smoke story did not complete: nothing to look for after a restart")
    volumes = _project_volumes(stack)
    assert len(volumes) >= 2, volumes  # kafka-data, postgres-data

    start = time.monotonic()
    stack.compose("down", "--timeout", "30", timeout=600)
    assert stack.container("registry") is None and stack.container("postgres") is None
    assert _project_volumes(stack) == volumes, "down without -v must keep the named volumes"
    stack.compose("up", "-d", "--no-build", timeout=600)
    _wait_ready(stack)
    TIMINGS["restart_to_ready_s"] = round(time.monotonic() - start, 1)
    assert _project_volumes(stack) == volumes, "up must reuse the named volumes"

    _keys_accepted(stack, _story_keys(stack))
    _check_story_data(stack, story)
    TIMINGS["restart_to_story_checked_s"] = round(time.monotonic() - start, 1)


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
    # the smoke story's data and keys came back with the dumps
    if "story" in stack.state:
        _keys_accepted(stack, _story_keys(stack))
        _check_story_data(stack, stack.state["story"])
    # nothing left unpublished, and the registry healed the empty broker
    status, body = _get(stack.url("registry", "/health/ready"))
    assert status == 200 and body["outbox_backlog"] == 0, body
    logs = stack.compose("logs", "--no-color", "registry", timeout=120).stdout
    assert "broker reset detected" in logs
