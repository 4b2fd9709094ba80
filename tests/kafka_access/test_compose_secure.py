"""Issue 16 item 5: the compose override deploy/compose.secure.yml (the secure broker, the
services' principals) checked by `docker-compose config` and against the broker settings the
tests run on Apache Kafka (sikader_shared.kafka_secure). Part of `make test`."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sikader_shared import topics
from sikader_shared.kafka_access import service_user
from sikader_shared.kafka_secure import AUTHORIZER, BROKER_PRINCIPAL, MECHANISM, BrokerSecurity, secure_properties
from tests.deploy.support import (
    COMPOSE,
    ROOT,
    clean_env,
    compose_cli,
    env_example,
    filled_env_file,
    interpolations,
    load_yaml,
)

SECURE = ROOT / "deploy" / "compose.secure.yml"
SECRETS = {
    "SIKADER_KAFKA_ADMIN_PASSWORD": "testadminpassword",
    "KAFKA_BROKER_TLS_DIR": "/tmp/sikader-broker-tls",
    **{f"SIKADER_{s.upper()}_KAFKA_PASSWORD": f"test{s}password" for s in topics.SERVICES},
}


def _config(tmp_path: Path, secrets: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cli = compose_cli()
    if cli is None:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    env_file = filled_env_file(tmp_path / "test.env", secrets)
    args = [*cli, "--env-file", str(env_file), "--project-directory", str(ROOT), "-f", str(COMPOSE), "-f", str(SECURE)]
    return subprocess.run([*args, "config"], capture_output=True, text=True, timeout=120, env=clean_env(), cwd=ROOT)


def _properties(environment: dict[str, Any]) -> dict[str, str]:
    """The broker properties the image makes of KAFKA_* variables (deploy/kafka/secure-start.sh)."""
    out = {}
    for name, value in environment.items():
        if name.startswith("KAFKA_") and name != "KAFKA_HEAP_OPTS":
            key = name.removeprefix("KAFKA_").lower().replace("___", "-").replace("__", "@").replace("_", ".")
            out[key.replace("@", "_")] = str(value)
    return out


def test_the_secure_override_passes_docker_compose_config(tmp_path: Path) -> None:
    proc = _config(tmp_path, SECRETS)
    assert proc.returncode == 0, proc.stderr
    assert "secure-start.sh" in proc.stdout and "kafka-access" in proc.stdout


@pytest.mark.parametrize("missing", ["SIKADER_KAFKA_ADMIN_PASSWORD", "SIKADER_INCENTIVES_KAFKA_PASSWORD"])
def test_the_secure_override_refuses_to_start_without_its_secrets(tmp_path: Path, missing: str) -> None:
    proc = _config(tmp_path, {k: v for k, v in SECRETS.items() if k != missing})
    assert proc.returncode != 0 and missing in proc.stderr


def test_no_secret_is_written_in_the_override() -> None:
    text = SECURE.read_text(encoding="utf-8")
    assert not re.search(r"^\s+[A-Z_]*PASSWORD:\s*[^$\s]", text, re.MULTILINE), "a password written in the file"
    for name, uses in interpolations(SECURE).items():
        if "PASSWORD" in name or name == "KAFKA_BROKER_TLS_DIR":
            assert all(op == ":?" for op, _ in uses), f"{name} must be required (${{{name}:?...}})"


def test_the_broker_has_the_settings_the_tests_run_on() -> None:
    props = _properties(load_yaml(SECURE)["services"]["kafka"]["environment"])
    security = BrokerSecurity(Path("ca.pem"), Path("broker.pem"), "x")
    tested = secure_properties(1, 2, 3, security)
    for key in ("authorizer.class.name", "allow.everyone.if.no.acl.found", "sasl.enabled.mechanisms"):
        assert props[key] == tested[key], key
    assert props["authorizer.class.name"] == AUTHORIZER and props["sasl.enabled.mechanisms"] == MECHANISM
    assert set(props["super.users"].split(";")) == {"User:admin", BROKER_PRINCIPAL}
    assert (props["ssl.keystore.type"], props["ssl.truststore.type"]) == ("PEM", "PEM")
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    inside = {props["inter.broker.listener.name"], "CONTROLLER"}
    assert {protocols[name] for name in inside} == {"SSL"}  # mutual TLS for the broker's own traffic
    assert all(props[f"listener.name.{name.lower()}.ssl.client.auth"] == "required" for name in inside)
    clients = {name for name in protocols if name not in inside}
    assert clients == {"INTERNAL", "EXTERNAL"} and {protocols[n] for n in clients} == {"SASL_SSL"}
    for name in clients:
        assert "ScramLoginModule" in props[f"listener.name.{name.lower()}.scram-sha-512.sasl.jaas.config"]


def test_each_service_connects_with_its_own_principal() -> None:
    services = load_yaml(SECURE)["services"]
    for service in topics.SERVICES:
        env = services[service]["environment"]
        assert env["KAFKA_SASL_USERNAME"] == service_user(service)
        assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_MECHANISM"] == MECHANISM
        assert "kafka-access" in services[service]["depends_on"]
    assert services["kafka-access"]["command"][-2:] == ["services", "setup"]


def test_every_variable_of_the_override_is_documented_in_the_env_example() -> None:
    documented = env_example()
    missing = [name for name in interpolations(SECURE) if name not in documented]
    assert not missing, f"used in deploy/compose.secure.yml, not in .env.example: {missing}"
