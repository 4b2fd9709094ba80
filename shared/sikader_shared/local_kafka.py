"""Apache Kafka (KRaft) run from its Maven jars on this machine: one node for the tests and
`make run`, three for the fault tests, and the benchmarks' broker. The services never import
this; it is the development and test tooling's broker.

- The version is pinned once, in deploy/kafka/version.env.
- The jars come from Maven Central through deploy/kafka/pom.xml and stay in ~/.m2 (they survive
  a fresh clone); the classpath is cached in ~/.m2/sikader/kafka-<version>.classpath.
- Java 17 is used explicitly (SIKADER_JAVA, else a JDK 17 under /usr/lib/jvm, else JAVA_HOME
  or `java` when it is 17 or newer), so a newer JDK beside it is never picked by accident.
- Each node: a properties file written here, storage formatted with a cluster id and static
  `controller.quorum.voters` (kafka.tools.StorageTool), then `kafka.Kafka <properties>` in a
  process group of its own, so that a teardown kills all of it."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sikader_shared.kafka_secure import BrokerSecurity, secure_properties

REPO = Path(__file__).resolve().parents[2]
KAFKA_DEPLOY_DIR = REPO / "deploy" / "kafka"
HEAP_OPTS = ["-Xms256m", "-Xmx512m"]
# Start-up CPU matters more than peak speed for a test broker on 2 cores; benchmarks and
# `make run` leave the JIT alone.
FAST_START_OPTS = ["-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto"]
SERVER_OPTS = ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true"]


class KafkaUnavailable(RuntimeError):
    pass


def kafka_version() -> str:
    """SIKADER_KAFKA_VERSION, else KAFKA_VERSION in deploy/kafka/version.env."""
    override = os.environ.get("SIKADER_KAFKA_VERSION")
    if override:
        return override
    text = (KAFKA_DEPLOY_DIR / "version.env").read_text()
    match = re.search(r"^KAFKA_VERSION=(\S+)$", text, re.MULTILINE)
    if not match:
        raise KafkaUnavailable("deploy/kafka/version.env has no KAFKA_VERSION=")
    return match.group(1)


def _java_major(java: str) -> int:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r'version "(\d+)', out.stderr + out.stdout)
    return int(match.group(1)) if match else 0


def find_java() -> str:
    """A Java 17 (the brokers' supported runtime here), never a newer JDK picked by accident."""
    explicit = os.environ.get("SIKADER_JAVA")
    if explicit:
        if _java_major(explicit) < 17:
            raise KafkaUnavailable(f"SIKADER_JAVA={explicit} is not Java 17 or newer")
        return explicit
    candidates = sorted(Path("/usr/lib/jvm").glob("*17*/bin/java")) if Path("/usr/lib/jvm").exists() else []
    for candidate in candidates:
        if _java_major(str(candidate)) == 17:
            return str(candidate)
    java_home = os.environ.get("JAVA_HOME", "")
    for java in (os.path.join(java_home, "bin", "java") if java_home else "", shutil.which("java") or ""):
        if java and _java_major(java) >= 17:
            return java
    raise KafkaUnavailable("no Java 17 found (set SIKADER_JAVA to a java binary, 17 or newer)")


def _m2() -> Path:
    return Path(os.environ.get("SIKADER_M2_DIR", Path.home() / ".m2"))


def classpath(version: str | None = None, fetch: bool = True) -> str:
    """The broker's and tools' jars (resolved by Maven into ~/.m2), as a Java classpath."""
    version = version or kafka_version()
    cache = _m2() / "sikader" / f"kafka-{version}.classpath"
    if cache.exists():
        cp = cache.read_text().strip()
        if cp and all(Path(jar).exists() for jar in cp.split(os.pathsep)):
            return cp
    if not fetch:
        raise KafkaUnavailable(f"the Apache Kafka {version} jars are not in {_m2()} (fetch them: make kafka-jars)")
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaUnavailable("Maven (mvn) is not installed: it fetches the Apache Kafka jars")
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    out = subprocess.run(
        [
            mvn, "-q", "-B", "-f", str(KAFKA_DEPLOY_DIR / "pom.xml"), "dependency:build-classpath",
            f"-Dkafka.version={version}", f"-Dmdep.outputFile={tmp}",
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if out.returncode != 0 or not tmp.exists():
        raise KafkaUnavailable(f"Maven could not fetch Apache Kafka {version}: {(out.stdout + out.stderr)[-800:]}")
    tmp.replace(cache)
    return cache.read_text().strip()


def new_cluster_id() -> str:
    """What `kafka-storage.sh random-uuid` prints: 16 random bytes, urlsafe base64, no padding,
    and (as Kafka's Uuid.randomUuid) never starting with '-', which the tools' argument parser
    would take for an option (1 start in 64 failed before)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tcp_answers(port: int, timeout: float = 0.3) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=timeout).close()
        return True
    except OSError:
        return False


@dataclass
class KafkaNode:
    node_id: int
    port: int
    controller_port: int
    directory: Path
    proc: subprocess.Popen[bytes] | None = None
    internal_port: int = 0  # the secure mode's inter-broker (mutual TLS) listener

    @property
    def log_file(self) -> Path:
        return self.directory / "kafka.log"

    @property
    def properties_file(self) -> Path:
        return self.directory / "server.properties"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def broker_properties(
    node: KafkaNode,
    voters: str,
    replicas: int,
    overrides: Mapping[str, str] | None = None,
    security: BrokerSecurity | None = None,
) -> dict[str, str]:
    """One combined broker+controller node. Replication follows the cluster size (1 or 3).
    `security`: the SASL_SSL listener, mutual TLS inside the cluster and ACLs (kafka_secure)."""
    min_isr = "2" if replicas >= 3 else "1"
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{node.port},CONTROLLER://127.0.0.1:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node.data_dir),
        # what the services and the contract expect of a topic a client creates implicitly
        "num.partitions": "6",
        "auto.create.topics.enable": "true",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": min_isr,
        "offsets.topic.num.partitions": "6",
        "offsets.topic.replication.factor": str(replicas),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": min_isr,
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": min_isr,
        # the services' consumers use short sessions in tests (2 s) and join at once
        "group.min.session.timeout.ms": "1000",
        "group.initial.rebalance.delay.ms": "0",
        # the largest record batch a producer may send (Kafka's default, stated)
        "message.max.bytes": "1048588",
        # 2 cores: fewer threads than the defaults
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.retention.hours": "-1",
    }
    if security is not None:
        props.update(secure_properties(node.port, node.internal_port, node.controller_port, security))
    props.update(overrides or {})
    return props


@dataclass
class LocalKafka:
    """`nodes` KRaft brokers (each also a controller) on loopback, data under `root`.
    `security`: the secure mode (SASL/SCRAM-SHA-512 over TLS, ACLs); by default PLAINTEXT."""

    root: Path
    nodes: int = 1
    fast_start: bool = False
    ports: list[int] | None = None
    controller_ports: list[int] | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    security: BrokerSecurity | None = None
    version: str = ""
    cluster_id: str = ""
    members: list[KafkaNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.version = self.version or kafka_version()
        self.java = find_java()
        self.cp = classpath(self.version)
        ports = self.ports or [free_port() for _ in range(self.nodes)]
        controller_ports = self.controller_ports or [free_port() for _ in range(self.nodes)]
        self.members = [
            KafkaNode(i + 1, ports[i], controller_ports[i], self.root / f"node-{i + 1}") for i in range(self.nodes)
        ]
        if self.security is not None:
            for node in self.members:
                node.internal_port = free_port()

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{n.port}" for n in self.members)

    def _jvm(self, heap: list[str]) -> list[str]:
        log4j = KAFKA_DEPLOY_DIR / "log4j2.properties"
        opts = [*heap, *(FAST_START_OPTS if self.fast_start else SERVER_OPTS)]
        return [self.java, *opts, f"-Dlog4j2.configurationFile={log4j}", "-cp", self.cp]

    def write_properties(self) -> None:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in self.members)
        for node in self.members:
            node.directory.mkdir(parents=True, exist_ok=True)
            props = broker_properties(node, voters, self.nodes, self.overrides, self.security)
            node.properties_file.write_text("".join(f"{k}={v}\n" for k, v in props.items()))

    def formatted(self) -> bool:
        return all((n.data_dir / "meta.properties").exists() for n in self.members)

    def format(self, cluster_id: str | None = None) -> None:
        """Format every node's storage (once; a formatted directory is kept as it is)."""
        self.cluster_id = cluster_id or self.cluster_id or new_cluster_id()
        self.write_properties()
        for node in self.members:
            if (node.data_dir / "meta.properties").exists():
                continue
            # KRaft keeps SCRAM credentials in its metadata: the admin's is written here
            scram = ["--add-scram", self.security.scram_argument()] if self.security is not None else []
            out = subprocess.run(
                [
                    *self._jvm(["-Xmx256m"]), "kafka.tools.StorageTool", "format",
                    f"--cluster-id={self.cluster_id}", "-c", str(node.properties_file), "--ignore-formatted", *scram,
                ],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            if out.returncode != 0:
                raise KafkaUnavailable(f"formatting node {node.node_id} failed: {(out.stdout + out.stderr)[-800:]}")

    def read_cluster_id(self) -> str:
        meta = self.members[0].data_dir / "meta.properties"
        match = re.search(r"^cluster\.id=(\S+)$", meta.read_text(), re.MULTILINE) if meta.exists() else None
        return match.group(1) if match else ""

    def start_node(self, node: KafkaNode) -> None:
        if node.running():
            return
        self.write_properties()
        log = open(node.log_file, "ab")  # noqa: SIM115 (the child keeps it)
        try:
            node.proc = subprocess.Popen(
                [*self._jvm(HEAP_OPTS), "kafka.Kafka", str(node.properties_file)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()

    def start(self, timeout: float = 120.0) -> None:
        if not self.formatted():
            self.format()
        else:
            self.cluster_id = self.read_cluster_id()
        for node in self.members:
            self.start_node(node)
        self.wait_listening(timeout)

    def wait_listening(self, timeout: float = 120.0, nodes: list[KafkaNode] | None = None) -> None:
        deadline = time.monotonic() + timeout
        for node in nodes or self.members:
            while not tcp_answers(node.port):
                if node.proc is not None and node.proc.poll() is not None:
                    raise KafkaUnavailable(f"Kafka node {node.node_id} exited: {self.log_tail(node)}")
                if time.monotonic() > deadline:
                    tail = self.log_tail(node)
                    raise KafkaUnavailable(f"Kafka node {node.node_id} did not listen in {timeout}s: {tail}")
                time.sleep(0.05)

    def log_tail(self, node: KafkaNode, chars: int = 1500) -> str:
        try:
            return node.log_file.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop_node(self, node: KafkaNode, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """SIGTERM: a controlled shutdown; SIGKILL: a crash. The whole process group either way."""
        if node.proc is None:
            return
        if node.proc.poll() is None:
            try:
                os.killpg(node.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                node.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(node.proc.pid, signal.SIGKILL)
                node.proc.wait(10)
        try:  # anything the JVM left in its group
            os.killpg(node.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        node.proc = None
        # the port is free again before a restart binds it
        deadline = time.monotonic() + 10
        while tcp_answers(node.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> None:
        """Every node at once (one after another, the last would wait for a quorum that is gone)."""
        for node in self.members:
            if node.running():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.proc.pid, sig)  # type: ignore[union-attr]
        for node in self.members:
            self.stop_node(node, sig, timeout)

    def wipe(self, cluster_id: str | None = None) -> None:
        """Stop, delete every log dir and format again with a new cluster id: a broker that
        comes back empty, as Tansu does on every restart."""
        self.stop(signal.SIGKILL)
        for node in self.members:
            shutil.rmtree(node.data_dir, ignore_errors=True)
        self.cluster_id = ""
        self.format(cluster_id or new_cluster_id())

    def close(self, remove: bool = False) -> None:
        self.stop(signal.SIGKILL)
        if remove:
            shutil.rmtree(self.root, ignore_errors=True)

    def run_tool(self, main_class: str, *args: str, timeout: float = 60.0) -> str:
        """A Kafka command-line tool (e.g. org.apache.kafka.tools.MetadataQuorumCommand) from
        the same jars, as the distribution's bin/*.sh scripts would run it."""
        out = subprocess.run(
            [*self._jvm(["-Xmx128m"]), main_class, *args], capture_output=True, text=True, timeout=timeout
        )
        if out.returncode != 0:
            raise KafkaUnavailable(f"{main_class} failed: {(out.stdout + out.stderr)[-800:]}")
        return out.stdout

    def active_controller(self) -> KafkaNode:
        """The quorum's leader, as `kafka-metadata-quorum.sh describe --status` reports it."""
        bootstrap = ",".join(f"127.0.0.1:{n.port}" for n in self.members if n.running())
        status = self.run_tool(
            "org.apache.kafka.tools.MetadataQuorumCommand", "--bootstrap-server", bootstrap, "describe", "--status"
        )
        match = re.search(r"^LeaderId:\s*(\d+)", status, re.MULTILINE)
        if not match:
            raise KafkaUnavailable(f"no LeaderId in the quorum status: {status[-400:]}")
        return self.node(int(match.group(1)))

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.members if n.node_id == node_id)
