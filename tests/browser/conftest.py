"""The console in a real browser: opt-in (marker `browser`; `make test-browser` runs
`pytest -m browser tests/browser`, SIKADER_TEST_BROWSER=1 selects them too), skipped by a plain
`make test`.

`console_stack` (module scope) is the whole system as `make run` has it, on the test broker:
Apache Kafka (tests' choice, sikader_shared.testing.broker), a PostgreSQL database per process
from TEST_DATABASE_URL (SQLite only while SIKADER_TEST_REQUIRE_POSTGRES is unset), the four
services and the console as subprocesses (each migrated first, as `make run` does), the
development mail catcher for the notifications, the demo data loaded by the loader `make run`
uses (scripts/demo_data.py), and API keys issued with the registry's CLI for named people (the
label is the person's name). The services trust the console's address as a proxy
(SIKADER_TRUSTED_PROXIES) for their per-address rate limits.

`browser` (per test): Selenium 4 driving Debian's Chromium headless, binary /usr/bin/chromium
and driver /usr/bin/chromedriver given explicitly, Selenium Manager offline (SE_OFFLINE=true),
window 1366x900, Chrome's performance log on (tests/browser/support.py reads it). Skipped when
Chromium is missing, failed instead under SIKADER_TEST_REQUIRE_BROWSER=1 (CI). A failed test
leaves var/screenshots/FAILED-<test>.png.

The console's DOM contract the tests rely on: /masuk has input#api-key (name api_key, type
password, with a label) and button#sign-in, a bad key answers 4xx with #error, success is a 303
to /peta; a signed-out request redirects to /masuk. Signed-in pages carry <html lang>, nav links
a[data-nav=peta|verifikasi|kader|sertifikasi|insentif|siaran], the person's name in #who, the
language toggle a[data-lang], and a sign-out form whose button is #sign-out. Peta: #map,
markers with class posyandu-marker, #marker-count, #without-coordinates-count. Every form has a
hidden csrf_token; every page a Content-Security-Policy with script-src 'self' (no
'unsafe-inline') and frame-ancestors 'none' or X-Frame-Options DENY."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from sikader_shared.crypto import new_key
from sikader_shared.testing.broker import TestBroker, free_port, start_test_broker, wait_kafka_ready
from sikader_shared.testing.database import temporary_databases
from sikader_shared.testing.services import ConsoleProcess, SubprocessService
from tests.browser.support import screenshot
from tests.conftest import subprocess_env

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("SIKADER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SIKADER_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
REQUIRE_BROWSER = os.environ.get("SIKADER_TEST_REQUIRE_BROWSER") == "1"
SERVICES = ("registry", "certification", "incentives", "notifications")
READY_TIMEOUT_S = 90.0
STARTS: list[dict[str, float]] = []  # each stack's timings, for the terminal summary

_OFFICER = [
    *("registry:read", "registry:write", "posyandu:verify"),
    *("certification:train", "certification:assess", "certification:revoke"),
    *("incentives:read", "notifications:broadcast"),
]
# name -> (OPD client, scopes, label: the person the key was issued to)
PEOPLE: dict[str, tuple[str, list[str], str]] = {
    "officer": ("dinkes", _OFFICER, "Siti Rahmawati (Dinkes)"),
    "pii_officer": ("dinkes", [*_OFFICER, "registry:pii"], "Dewi Anggraini (Dinkes, data pribadi)"),
    "calculator": ("dinkes", ["incentives:read", "incentives:calculate"], "Andi Saputra (Dinkes, perhitungan)"),
    "approver_same": ("dinkes", ["incentives:read", "incentives:approve"], "Budi Hartono (Dinkes, persetujuan)"),
    "approver_other": (
        "dinsos",
        ["incentives:read", "incentives:approve", "incentives:pay"],
        "Rina Marlina (Dinsos, persetujuan)",
    ),
}


# -- opt-in ---------------------------------------------------------------------------------------


def _selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    return ("browser" in markexpr and "not browser" not in markexpr) or os.environ.get("SIKADER_TEST_BROWSER") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(reason="browser tests are opt-in: `make test-browser` (pytest -m browser tests/browser)")
    for item in items:
        if item.get_closest_marker("browser") is not None:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


# -- the stack ------------------------------------------------------------------------------------


@dataclass
class ConsoleStack:
    console_url: str
    urls: dict[str, str]  # service -> base URL
    admin_key: str
    keys: dict[str, str]  # PEOPLE name -> API key
    labels: dict[str, str]  # PEOPLE name -> the person's name (the key's label)
    bootstrap: str
    var_dir: Path
    mail_url: str
    demo: dict[str, Any]  # what the demo loader reported
    timings: dict[str, float] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.logs.get(name)
        if path is None or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# The operator CLIs, as `make run` uses them: `sikader-<service> migrate` for the five, then
# `sikader-registry keys issue ...` for each key; in one interpreter, because the CLIs' imports
# cost seconds of CPU per process and the broker's JVM starts on the same two cores meanwhile.
_PREPARE = """
import importlib, json, sys
plan = json.loads(sys.stdin.read())
for service in plan["migrate"]:
    sys.argv = [f"sikader-{service}", "migrate"]
    importlib.import_module(f"{service}.entrypoints.cli").main()
print(plan["separator"], flush=True)
for argv in plan["keys"]:
    sys.argv = ["sikader-registry", *argv]
    importlib.import_module("registry.entrypoints.cli").main()
"""
_SEPARATOR = "--- keys ---"


def _prepare(env: dict[str, str], migrate: list[str], wanted: list[tuple[str, list[str], str]]) -> list[str]:
    """Migrates the databases, then issues the keys (client, scopes, label) with the registry's
    CLI; returns the keys in the order asked."""
    keys_argv = [
        ["keys", "issue", "--client", client, "--scopes", ",".join(scopes), "--label", label]
        for client, scopes, label in wanted
    ]
    out = subprocess.run(
        [sys.executable, "-c", _PREPARE],
        input=json.dumps({"migrate": migrate, "keys": keys_argv, "separator": _SEPARATOR}),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )
    if out.returncode != 0:
        raise RuntimeError(f"migrate / keys issue failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    decoder, text = json.JSONDecoder(), out.stdout
    position = text.index(_SEPARATOR) + len(_SEPARATOR)
    keys: list[str] = []
    while len(keys) < len(wanted):
        issued, position = decoder.raw_decode(text, text.index("{", position))
        keys.append(str(issued["key"]))
    return keys


async def _known_everywhere(urls: dict[str, str], keys: list[str], timeout: float = 60.0) -> None:
    """Until every key answers GET /auth/whoami 200 at every service (sikader.auth.v1 carries
    the registry's keys to the others)."""
    deadline = time.monotonic() + timeout
    pending = {(u, k) for u in urls.values() for k in keys}
    async with httpx.AsyncClient(timeout=5) as client:
        while pending:
            for url, key in list(pending):
                r = await client.get(f"{url}/auth/whoami", headers={"Authorization": f"Bearer {key}"})
                if r.status_code == 200:
                    pending.discard((url, key))
            if not pending:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"keys not known within {timeout} s at {sorted({u for u, _ in pending})}")
            await asyncio.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 8.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


@pytest.fixture(scope="module")
def console_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleStack]:
    started = time.monotonic()
    var_dir = tmp_path_factory.mktemp("console-stack")
    timings: dict[str, float] = {}
    pool = ThreadPoolExecutor(8)
    broker_future = pool.submit(start_test_broker)  # a JVM: started first, the rest meanwhile
    procs: list[subprocess.Popen[bytes]] = []
    broker: TestBroker | None
    with temporary_databases() as database:
        try:
            stack = asyncio.run(_start(var_dir, database, pool, broker_future, procs, timings, started))
            STARTS.append(stack.timings)
            yield stack
        finally:
            _stop(procs)
            try:
                broker = broker_future.result(timeout=120)
            except Exception:  # it did not start; the setup reported why
                broker = None
            if broker is not None:
                broker.close()
            pool.shutdown(wait=True)


async def _start(
    var_dir: Path,
    database: Any,
    pool: ThreadPoolExecutor,
    broker_future: Any,
    procs: list[subprocess.Popen[bytes]],
    timings: dict[str, float],
    started: float,
) -> ConsoleStack:
    loop = asyncio.get_running_loop()
    (var_dir / "logs").mkdir(exist_ok=True)

    def mark(what: str) -> None:
        timings[what] = round(time.monotonic() - started, 1)

    # Databases and the services' environments (the tests' fast consumer settings); the
    # broker address is filled in once the broker answers.
    urls_db = {name: database(name) for name in (*SERVICES, "console")}
    mail_smtp, mail_http = free_port(), free_port()
    mail_url = f"http://127.0.0.1:{mail_http}"
    # no broker address yet: migrate and `keys issue` do not use it; set before the services start
    unknown = cast(TestBroker, SimpleNamespace(bootstrap=""))
    envs = {name: subprocess_env(name, unknown, urls_db[name], var_dir) for name in SERVICES}
    for env in envs.values():
        # every request from the console arrives from 127.0.0.1 with X-Forwarded-For
        env["SIKADER_TRUSTED_PROXIES"] = "127.0.0.1/32,::1/128"
    envs["notifications"].update(
        {
            "SIKADER_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "SIKADER_NOTIFICATIONS_SMTP_PORT": str(mail_smtp),
            "SIKADER_NOTIFICATIONS_SMS_GATEWAY_URL": f"{mail_url}/gateway/sms",
            "SIKADER_NOTIFICATIONS_WHATSAPP_GATEWAY_URL": f"{mail_url}/gateway/whatsapp",
            "SIKADER_NOTIFICATIONS_WORKER_POLL_S": "0.2",
        }
    )
    services = {name: SubprocessService(name, envs[name], var_dir / "logs" / f"{name}.log") for name in SERVICES}
    urls = {name: svc.url for name, svc in services.items()}
    console_env = {
        "SIKADER_VAR_DIR": str(var_dir),
        "SIKADER_CONSOLE_DATABASE_URL": urls_db["console"],
        "SIKADER_CONSOLE_SESSION_KEY": new_key(),
        "SIKADER_CONSOLE_SECURE_COOKIES": "false",
        "SIKADER_CONSOLE_TILE_URL": "",  # nothing from the internet: the map on a plain background
        **{f"SIKADER_CONSOLE_{name.upper()}_URL": url for name, url in urls.items()},
        "PYTHONPATH": envs["registry"]["PYTHONPATH"],
    }
    console = ConsoleProcess(console_env, var_dir / "logs" / "console.log", READY_TIMEOUT_S)

    # While the broker starts: the migrations and the keys (the registry's CLI writes them to
    # its database; its relay publishes them once it runs), and the mail catcher.
    wanted = [("city-admin", ["admin"], "browser tests"), *PEOPLE.values()]
    every_env = {k: v for env in (*envs.values(), console_env) for k, v in env.items()}
    preparing = loop.run_in_executor(pool, _prepare, every_env, [*SERVICES, "console"], wanted)
    with open(var_dir / "logs" / "mail.log", "ab") as log:
        procs.append(
            subprocess.Popen(
                [
                    *(sys.executable, "-m", "sikader_shared.testing.devsmtp"),
                    *("--smtp-port", str(mail_smtp), "--http-port", str(mail_http), "--dir", str(var_dir / "mail")),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    admin_key, *people = await preparing
    keys = dict(zip(PEOPLE, people, strict=True))
    mark("migrated_keys_issued_s")
    broker: TestBroker = await asyncio.wrap_future(broker_future)
    await wait_kafka_ready(broker.bootstrap)
    mark("broker_s")
    for svc in services.values():
        svc.env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    try:
        await asyncio.gather(*(svc.start() for svc in (*services.values(), console)))
    finally:
        procs.extend(p.proc for p in (*services.values(), console) if p.proc is not None)
    mark("processes_ready_s")

    await _known_everywhere(urls, [admin_key])
    mark("admin_key_known_s")
    sys.path.insert(0, str(ROOT / "scripts"))
    from demo_data import load_demo_data

    demo = await load_demo_data(urls, admin_key)
    mark("demo_loaded_s")
    await _known_everywhere(urls, list(keys.values()))
    mark("keys_known_s")
    stack = ConsoleStack(
        console_url=console.url,
        urls=urls,
        admin_key=admin_key,
        keys=keys,
        labels={name: spec[2] for name, spec in PEOPLE.items()},
        bootstrap=broker.bootstrap,
        var_dir=var_dir,
        mail_url=mail_url,
        demo=demo,
        timings=timings,
        logs={name: svc.log_path for name, svc in (*services.items(), ("console", console))},
    )
    return stack


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture
def browser(request: pytest.FixtureRequest) -> Iterator[Any]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).is_file() and os.access(p, os.X_OK))]
    if missing:
        reason = f"{', '.join(missing)} missing: `make chromium` installs Debian's chromium and chromium-driver"
        if REQUIRE_BROWSER:
            pytest.fail(f"SIKADER_TEST_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager never downloads a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--window-size=1366,900",
        "--lang=id-ID",
        # Chromium's own traffic off: only the pages' requests reach the network log
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    log_dir = ROOT / "var" / "screenshots"
    log_dir.mkdir(parents=True, exist_ok=True)
    service = Service(executable_path=CHROMEDRIVER, log_output=str(log_dir / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        if request.node.stash.get(_FAILED, False):
            try:
                screenshot(driver, f"FAILED-{request.node.name}")
            except Exception:  # the test's own failure is what matters
                pass
        driver.quit()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """How long the stack took to come up: seconds from the fixture's start to each step."""
    for timings in STARTS:
        terminalreporter.write_line(f"console stack: ready in {max(timings.values())} s ({json.dumps(timings)})")
