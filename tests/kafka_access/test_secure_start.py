"""Issue 16 item 5: the compose override's broker entrypoint (deploy/kafka/secure-start.sh)
run on this machine with the broker environment `docker-compose config` gives for
docker-compose.yml + deploy/compose.secure.yml; only the addresses and paths are moved to
loopback and a temporary folder, and /opt/kafka/bin's scripts are stand-ins that run the
harness's Apache Kafka jars. It must format the storage with the admin's SCRAM credential and
serve SASL_SSL with ACLs; the healthcheck's client file must work."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from sikader_shared import topics
from sikader_shared.kafka_access import KafkaAccess, admin_config
from sikader_shared.kafka_secure import write_certificates
from sikader_shared.local_kafka import KAFKA_DEPLOY_DIR, KafkaUnavailable, classpath, find_java, free_port, tcp_answers
from tests.kafka_access.test_compose_secure import SECRETS, _config

pytestmark = [pytest.mark.kafka_access, pytest.mark.integration]

SCRIPT = KAFKA_DEPLOY_DIR / "secure-start.sh"
PORTS = {"9092": "INTERNAL", "9093": "CONTROLLER", "9094": "EXTERNAL", "9095": "BROKER"}


def _stand_ins(bin_dir: Path) -> None:
    """kafka-storage.sh, kafka-server-start.sh as the image has them, on the harness's jars."""
    try:
        java, cp = find_java(), classpath()
    except KafkaUnavailable as exc:
        if os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
            raise
        pytest.skip(f"Apache Kafka is not available here: {exc}")
    log4j = KAFKA_DEPLOY_DIR / "log4j2.properties"
    fast = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    jvm = f'"{java}" $KAFKA_HEAP_OPTS {fast} -Dlog4j2.configurationFile={log4j} -cp "{cp}"'
    bin_dir.mkdir()
    for name, main in (("kafka-storage.sh", "kafka.tools.StorageTool"), ("kafka-server-start.sh", "kafka.Kafka")):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {jvm} {main} "$@"\n')
        (bin_dir / name).chmod(0o755)


def _broker_environment(tmp_path: Path, ports: dict[str, int]) -> dict[str, str]:
    proc = _config(tmp_path, SECRETS)
    assert proc.returncode == 0, proc.stderr
    environment: dict[str, Any] = yaml.safe_load(proc.stdout)["services"]["kafka"]["environment"]
    env = {}
    for name, value in environment.items():
        text = str(value)
        for old, new in ports.items():
            text = text.replace(f":{old}", f":{new}")
        env[name] = (
            text.replace("kafka:", "127.0.0.1:").replace("localhost:", "127.0.0.1:").replace("://:", "://127.0.0.1:")
        )
    secrets_dir = tmp_path / "secrets"
    env.update(
        KAFKA_LOG_DIRS=str(tmp_path / "data"),
        KAFKA_SSL_KEYSTORE_LOCATION=str(secrets_dir / "broker.pem"),
        KAFKA_SSL_TRUSTSTORE_LOCATION=str(secrets_dir / "ca.pem"),
        KAFKA_HEAP_OPTS="-Xmx512m",
        SIKADER_KAFKA_BIN=str(tmp_path / "bin"),
        SIKADER_KAFKA_SECRETS=str(secrets_dir),
        SIKADER_KAFKA_WORK=str(tmp_path / "work"),
        PATH=os.environ.get("PATH", "/usr/bin:/bin"),
    )
    return env


@pytest.fixture
def compose_broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    ports = {old: free_port() for old in PORTS}
    write_certificates(tmp_path / "secrets")
    _stand_ins(tmp_path / "bin")
    env = _broker_environment(tmp_path, ports)
    log = open(tmp_path / "broker.log", "wb")  # noqa: SIM115 (the child keeps it)
    proc = subprocess.Popen(
        ["/bin/sh", str(SCRIPT)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    try:
        deadline = time.monotonic() + 120
        while not tcp_answers(ports["9092"]):
            assert proc.poll() is None, (tmp_path / "broker.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the broker did not listen in 120 s"
            time.sleep(0.1)
        yield f"127.0.0.1:{ports['9092']}", env
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_the_compose_entrypoint_serves_sasl_ssl_with_acls(compose_broker: tuple[str, dict[str, str]]) -> None:
    bootstrap, env = compose_broker
    ca = os.path.join(env["SIKADER_KAFKA_SECRETS"], "ca.pem")
    # the admin's credential was written when the storage was formatted
    admin = KafkaAccess(admin_config(bootstrap, "admin", env["SIKADER_KAFKA_ADMIN_PASSWORD"], ca))
    added = admin.add_agency("dinkes")
    assert admin.users() == ["admin", "opd-dinkes"]
    assert topics.CERTIFICATION in added["topics"]
    # the healthcheck's command, with the client file the entrypoint wrote
    java, cp = find_java(), classpath()
    client_file = str(Path(env["SIKADER_KAFKA_WORK"]) / "admin.properties")
    health = subprocess.run(
        [
            java, "-Xmx128m", "-cp", cp, "org.apache.kafka.tools.BrokerApiVersionsCommand",
            "--bootstrap-server", bootstrap, "--command-config", client_file,
        ],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert health.returncode == 0, health.stderr[-1500:]
    assert "ApiVersions" in health.stdout or "(id: 1" in health.stdout
