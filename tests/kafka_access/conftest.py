"""A secure Apache Kafka (SASL/SCRAM-SHA-512 over TLS, ACLs) for the broker-access tests:
one per module, from the harness's jars, with fresh PEM certificates and an admin password.

The tests on it (marker `kafka_access`) are opt-in: `make test-kafka-access`
(`pytest -m kafka_access`) or SIKADER_TEST_KAFKA_ACCESS=1; a plain `make test` skips them
(CI runs them in a step of their own). The policy and compose checks always run."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sikader_shared.kafka_access import KafkaAccess, admin_config
from sikader_shared.kafka_secure import BrokerSecurity, write_certificates
from sikader_shared.local_kafka import KafkaUnavailable, LocalKafka


@dataclass
class SecureKafka:
    kafka: LocalKafka
    security: BrokerSecurity

    @property
    def bootstrap(self) -> str:
        return self.kafka.bootstrap

    @property
    def cafile(self) -> str:
        return str(self.security.ca_file)

    def admin(self) -> KafkaAccess:
        security = self.security
        return KafkaAccess(admin_config(self.bootstrap, security.admin_user, security.admin_password, self.cafile))

    def cli(
        self, *args: str, env: dict[str, str] | None = None, module: str = "sikader_shared.kafka_access_cli"
    ) -> Any:
        """`python -m <module> ARGS` as the admin: the compose job's module by default, or a
        service's CLI (`registry.entrypoints.cli`, then ARGS start with `kafka`). Its JSON output."""
        security = self.security
        admin_env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_USERNAME": security.admin_user,
            "KAFKA_SASL_PASSWORD": security.admin_password,
            "KAFKA_SSL_CAFILE": self.cafile,
        }
        proc = subprocess.run(
            [sys.executable, "-m", module, *args],
            capture_output=True, text=True, timeout=60, env={**os.environ, **admin_env, **(env or {})},
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def client_kwargs(self, user: str, password: str) -> dict[str, Any]:
        """aiokafka's keyword arguments for `user` on the SASL_SSL listener."""
        import ssl

        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=self.cafile),
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": user,
            "sasl_plain_password": password,
            "request_timeout_ms": 10000,
        }


def _selected(config: pytest.Config) -> bool:
    markexpr = config.getoption("markexpr", "") or ""
    chosen = "kafka_access" in markexpr and "not kafka_access" not in markexpr
    return chosen or os.environ.get("SIKADER_TEST_KAFKA_ACCESS") == "1"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _selected(config):
        return
    skip = pytest.mark.skip(
        reason="opt-in: `make test-kafka-access` (pytest -m kafka_access) or SIKADER_TEST_KAFKA_ACCESS=1"
    )
    for item in items:
        if item.get_closest_marker("kafka_access") is not None:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def secure_kafka() -> Iterator[SecureKafka]:
    with running_secure_kafka("sikader-secure-kafka-") as kafka:
        yield kafka


@contextlib.contextmanager
def running_secure_kafka(prefix: str) -> Iterator[SecureKafka]:
    """A one-node Apache Kafka with the secure listener (skipped where Apache Kafka cannot run,
    unless SIKADER_TEST_REQUIRE_APACHE_KAFKA=1), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    ca, keystore = write_certificates(root / "tls")
    security = BrokerSecurity(ca, keystore, admin_password=secrets.token_urlsafe(16))
    try:
        kafka = LocalKafka(root, fast_start=True, security=security)
        kafka.start()
    except KafkaUnavailable as exc:
        if os.environ.get("SIKADER_TEST_REQUIRE_APACHE_KAFKA") == "1":
            raise
        pytest.skip(f"Apache Kafka is not available here: {exc}")
    try:
        yield SecureKafka(kafka, security)
    finally:
        kafka.close(remove=True)
