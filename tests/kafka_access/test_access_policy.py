"""Issue 16 item 5: the ACLs an agency and a service get, without a broker (part of
`make test`; the broker tests are in test_kafka_access.py)."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from sikader_shared import topics
from sikader_shared.auth import AUTH_HANDLERS
from sikader_shared.cli import build_parser
from sikader_shared.kafka_access import AccessError, agency_grants, public_topics, service_grants
from sikader_shared.kafka_secure import write_certificates
from sikader_shared.testing.broker import TestBroker
from tests.conftest import settings_for


def test_an_agency_may_read_only_public_topics_and_its_own_groups() -> None:
    grants = agency_grants("dinkes")
    allowed = {(g.resource, g.name, g.operation) for g in grants if g.permission == "ALLOW"}
    assert ("topic", topics.CERTIFICATION, "READ") in allowed
    assert ("group", "opd.dinkes.", "READ") in allowed
    assert not [g for g in grants if g.permission == "ALLOW" and g.operation not in ("READ", "DESCRIBE")]
    read = {name for kind, name, op in allowed if kind == "topic" and op == "READ"}
    assert topics.CADRE_PRIVATE not in read and topics.AUTH not in read
    assert not [n for n in read if n.startswith("sikader.dlq.")]
    denied = {g.name for g in grants if g.permission == "DENY"}
    assert denied == {topics.CADRE_PRIVATE, topics.AUTH, "sikader.dlq."}


@pytest.mark.parametrize("bad", ["", "-dinkes", "dinkes.x", "d" * 65, "dinkes*", "dinkes kb", "dinkés", "opd:x"])
def test_an_invalid_client_id_is_refused(bad: str) -> None:
    with pytest.raises(AccessError, match="invalid client id"):
        agency_grants(bad)


@pytest.mark.parametrize("good", ["dinkes", "Dinkes_KB", "dp3akb", "1bpbd", "dinas-kesehatan"])
def test_an_api_key_client_id_is_an_agency_id(good: str) -> None:
    assert {g.name for g in agency_grants(good) if g.resource == "group"} == {f"opd.{good}."}


def test_a_service_writes_only_its_own_topics() -> None:
    writes = {g.name for g in service_grants("certification") if g.operation == "WRITE"}
    assert writes == {topics.CERTIFICATION, topics.AUTH, topics.dlq_topic("certification")}
    with pytest.raises(AccessError, match="unknown service"):
        service_grants("billing")


def test_public_topics_are_the_catalogue_without_private_and_auth() -> None:
    assert set(public_topics()) == {t.name for t in topics.CATALOGUE} - {topics.CADRE_PRIVATE, topics.AUTH}


def test_a_service_may_create_sikader_topics_and_use_only_its_group() -> None:
    grants = service_grants("registry")
    groups = {g.name for g in grants if g.resource == "group"}
    assert groups == {"sikader-registry"}
    assert ("topic", "sikader.", "CREATE", "prefixed") in {(g.resource, g.name, g.operation, g.pattern) for g in grants}
    assert topics.CADRE_PRIVATE in {g.name for g in grants if g.operation == "WRITE"}
    assert not [g for g in grants if g.permission != "ALLOW"]


def test_every_service_cli_has_the_kafka_commands() -> None:
    parser = build_parser("registry")
    args = parser.parse_args(["kafka", "agency", "add", "--client", "dinkes"])
    assert (args.command, args.action, args.agency_action, args.client) == ("kafka", "agency", "add", "dinkes")
    assert parser.parse_args(["kafka", "services", "setup"]).services_action == "setup"
    with pytest.raises(SystemExit):
        parser.parse_args(["kafka", "agency", "add"])  # --client is required


def test_the_cli_refuses_a_bad_client_id_before_connecting() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sikader_shared.kafka_access_cli", "agency", "add", "--client", "dinkes;x"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
    )  # fmt: skip
    assert proc.returncode == 2 and "invalid client id" in proc.stderr


def test_certificates_for_the_secure_broker(tmp_path: Path) -> None:
    ca_file, keystore = write_certificates(tmp_path, ("kafka", "10.0.0.5"))
    ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
    cert = x509.load_pem_x509_certificate(keystore.read_bytes().split(b"-----END PRIVATE KEY-----\n")[1])
    assert cert.issuer == ca.subject and cert.subject.rfc4514_string() == "CN=sikader-broker"
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["kafka"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert keystore.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----") and keystore.stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("service", topics.SERVICES)
def test_a_service_may_read_what_it_consumes_and_the_private_topic_only_if_it_consumes_it(service: str) -> None:
    app = importlib.import_module(f"{service}.app")
    settings_module = importlib.import_module(f"{service}.settings")
    (settings_cls,) = [c for n, c in vars(settings_module).items() if n.endswith("Settings") and n != "ServiceSettings"]
    settings = settings_for(settings_cls, TestBroker("127.0.0.1:1", "external"), "postgresql://x@127.0.0.1/x")
    consumed = {model.topic for model in {**AUTH_HANDLERS, **app.definition(settings).event_handlers}}
    readable = {g.name for g in service_grants(service) if g.operation == "READ"}
    assert consumed <= readable
    assert (topics.CADRE_PRIVATE in readable) == (topics.CADRE_PRIVATE in consumed)
