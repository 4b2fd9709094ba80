"""The AsyncAPI 3.0 documents: valid against the official JSON Schema (vendored, pinned), one
channel per topic, every message with headers, payload, key, correlationId and an example
that validates, DLQ headers, servers and security, and docs/asyncapi.json up to date."""

from __future__ import annotations

import copy
import hashlib
import importlib
import json
from typing import Any

import pytest
from asyncapi_support import (
    PINNED_VERSION,
    SPEC_DIR,
    SPEC_FILE,
    all_documents,
    service_documents,
    spec_errors,
    spec_validator,
    within,
)
from jsonschema import Draft202012Validator
from referencing.exceptions import Unresolvable

from sikader_shared import asyncapi, topics
from sikader_shared.auth import AUTH_HANDLERS
from sikader_shared.dead_letters import dlq_message
from sikader_shared.envelope import REQUIRED_HEADERS
from sikader_shared.events import EVENT_MODELS
from sikader_shared.inbox import DeadLetter
from sikader_shared.schema_export import SCHEMA_DIR

DOCUMENTS = all_documents()
PLATFORM = DOCUMENTS["platform"]


# ----------------------------------------------------------------------------- the official schema


def test_vendored_spec_is_the_pinned_npm_package() -> None:
    package = json.loads((SPEC_DIR / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"] == {"@asyncapi/specs": PINNED_VERSION}  # exact, no range
    lock = json.loads((SPEC_DIR / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/@asyncapi/specs"]
    record = json.loads((SPEC_DIR / "vendored.json").read_text(encoding="utf-8"))
    assert locked["version"] == record["version"] == PINNED_VERSION
    assert locked["integrity"] == record["integrity"] and record["integrity"].startswith("sha512-")
    for name, digest in record["files"].items():
        assert hashlib.sha256((SPEC_DIR / name).read_bytes()).hexdigest() == digest, (
            f"{name} differs from @asyncapi/specs {PINNED_VERSION}: run `make asyncapi-spec`"
        )
    assert "schemas/3.0.0.json" in record["files"]
    assert (
        json.loads(SPEC_FILE.read_text(encoding="utf-8"))["$id"]
        == "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
    )


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_asyncapi_3(name: str) -> None:
    doc = DOCUMENTS[name]
    assert doc["asyncapi"] == "3.0.0"
    assert spec_errors(doc) == []


def test_the_validator_catches_what_is_wrong() -> None:
    """The official schema is really applied (a validator that passes everything proves nothing)."""
    broken = copy.deepcopy(PLATFORM)
    broken["operations"]["certification.send.sikader.certification.v1"]["action"] = "publish"  # 2.x wording
    broken["servers"]["agencies"]["protocol"] = 9094
    del broken["info"]["version"]
    broken["components"]["securitySchemes"]["agencyScram"]["type"] = "scramSha1"
    errors = spec_errors(broken)
    for where in ("'operations'", "'servers'", "'info'", "'securitySchemes'"):
        assert any(where in e for e in errors), (where, errors[:8])


def test_validation_never_fetches_anything() -> None:
    doc = copy.deepcopy(PLATFORM)
    doc["components"]["schemas"]["Remote"] = {"$ref": "https://example.org/remote.json"}
    schema = doc["components"]["schemas"]["Remote"]
    with pytest.raises(Unresolvable):
        within(doc, schema).validate({})
    assert spec_validator() is spec_validator()  # built once from the vendored file


# ----------------------------------------------------------------------------- channels and operations


def test_platform_has_one_channel_per_topic_with_all_its_events() -> None:
    channels = PLATFORM["channels"]
    assert list(channels) == topics.all_topic_names()
    for topic, channel in channels.items():
        assert channel["address"] == topic
        assert channel["bindings"]["kafka"] == {"topic": topic, "partitions": 6, "bindingVersion": "0.5.0"}
        expected = {m.event_name for m in EVENT_MODELS.values() if m.topic == topic} or {"DeadLetter"}
        assert set(channel["messages"]) == expected
    assert set(PLATFORM["components"]["messages"]) == {*EVENT_MODELS, "DeadLetter"}


def _ops(doc: dict[str, Any], action: str) -> dict[str, set[str]]:
    """topic -> names of the messages of the document's `action` operations on it."""
    out: dict[str, set[str]] = {}
    for op in doc["operations"].values():
        if op["action"] == action:
            topic = op["channel"]["$ref"].removeprefix("#/channels/")
            out.setdefault(topic, set()).update(m["$ref"].rsplit("/", 1)[-1] for m in op["messages"])
    return out


@pytest.mark.parametrize("service", topics.SERVICES)
def test_service_document_sends_its_topics_and_receives_what_it_handles(service: str) -> None:
    doc = service_documents()[service]
    wiring = importlib.import_module(f"{service}.app").WIRING
    handled = [*AUTH_HANDLERS, *wiring.event_handlers(wiring.make_config(wiring.settings_type()))]
    owned = [t.name for t in topics.CATALOGUE if t.owner in (service, "*")]
    sent = _ops(doc, "send")
    assert set(sent) == {*owned, topics.dlq_topic(service)}
    assert sent[topics.dlq_topic(service)] == {"DeadLetter"}
    for topic in owned:
        assert sent[topic] == {m.event_name for m in EVENT_MODELS.values() if m.topic == topic}
    received = _ops(doc, "receive")
    assert received == {t: {m.event_name for m in handled if m.topic == t} for t in {m.topic for m in handled}}
    assert set(doc["channels"]) == set(sent) | set(received)
    for op in doc["operations"].values():
        if op["action"] == "receive":
            assert op["bindings"]["kafka"]["groupId"]["const"] == f"sikader-{service}"
        for ref in op["messages"]:  # each operation message is one of its channel's
            topic, name = ref["$ref"].removeprefix("#/channels/").split("/messages/")
            assert name in doc["channels"][topic]["messages"]


def test_notifications_receives_certification_and_the_private_topic() -> None:
    received = _ops(service_documents()["notifications"], "receive")
    assert "CadreCertified" in received[topics.CERTIFICATION]
    assert "CadreContactChanged" in received[topics.CADRE_PRIVATE]
    assert {"ApiKeyIssued", "ApiKeyRevoked"} <= received[topics.AUTH]


# ----------------------------------------------------------------------------- messages


def _messages() -> list[tuple[str, str]]:
    return [(doc, key) for doc, d in DOCUMENTS.items() for key in d["components"]["messages"]]


@pytest.mark.parametrize(("doc_name", "key"), _messages())
def test_message_has_headers_payload_key_correlation_and_a_valid_example(doc_name: str, key: str) -> None:
    doc = DOCUMENTS[doc_name]
    message = doc["components"]["messages"][key]
    headers, payload = message["headers"], message["payload"]
    assert headers["type"] == "object" and headers["properties"]
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert message["correlationId"] == {"$ref": "#/components/correlationIds/ce_correlationid"}
    assert "ce_correlationid" in headers["properties"]
    assert message["examples"], "every message has an example"
    for example in message["examples"]:
        within(doc, headers).validate(example["headers"])
        within(doc, payload).validate(example["payload"])
    if key == "DeadLetter":
        return
    assert set(REQUIRED_HEADERS) <= set(headers["required"])
    assert headers["properties"]["ce_type"]["const"] == key
    example = message["examples"][0]
    published = json.loads((SCHEMA_DIR / f"{key}.json").read_text(encoding="utf-8"))
    Draft202012Validator(published, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(example["payload"])
    model = EVENT_MODELS[key]
    assert example["headers"]["ce_subject"] == str(example["payload"][model.aggregate_field])
    assert model.aggregate_field in message["bindings"]["kafka"]["key"]["description"]


def test_correlation_id_is_the_ce_correlationid_header() -> None:
    ids = PLATFORM["components"]["correlationIds"]
    assert list(ids) == ["ce_correlationid"]
    assert ids["ce_correlationid"]["location"] == "$message.header#/ce_correlationid"
    for message in PLATFORM["components"]["messages"].values():  # the header it points at exists
        assert "ce_correlationid" in message["headers"]["properties"]


@pytest.mark.parametrize("ce_type", sorted(EVENT_MODELS))
def test_payload_is_the_checked_in_json_schema(ce_type: str) -> None:
    published = json.loads((SCHEMA_DIR / f"{ce_type}.json").read_text(encoding="utf-8"))
    payload = PLATFORM["components"]["messages"][ce_type]["payload"]
    assert payload["required"] == published["required"] and payload["title"] == ce_type
    for name, prop in published["properties"].items():
        text = json.dumps(prop).replace("#/$defs/", "#/components/schemas/")
        assert payload["properties"][name] == json.loads(text)
    for name, definition in published.get("$defs", {}).items():
        text = json.dumps(definition).replace("#/$defs/", "#/components/schemas/")
        assert PLATFORM["components"]["schemas"][name] == json.loads(text)


def test_nested_types_are_components() -> None:
    schemas = PLATFORM["components"]["schemas"]
    for name in ("EligibilityReason", "EquipmentItem", "ManagementRole", "PosyanduInstitution", "AreaTotal"):
        assert schemas[name]["properties"]
    equipment = PLATFORM["components"]["messages"]["sikader.registry.PosyanduFacilityAssessed.v1"]["payload"]
    assert equipment["properties"]["equipment"]["items"] == {"$ref": "#/components/schemas/EquipmentItem"}


# ----------------------------------------------------------------------------- dead letters


class _Record:
    def __init__(self, value: bytes) -> None:
        self.topic, self.partition, self.offset, self.key = topics.CERTIFICATION, 2, 41, b"cadre-1"
        self.value = value
        self.headers = [("ce_id", b"e-1"), ("ce_type", b"sikader.certification.CadreCertified.v1")]


def test_dlq_channels_document_every_dlq_header_the_consumer_writes() -> None:
    letter = DeadLetter(_Record(b'{"cadre_id": "cadre-1"}' * 200), "handler failed", 3)  # type: ignore[arg-type]
    written = {name for name, _ in letter.headers("sikader-incentives") if name.startswith("dlq_")}
    reference = dlq_message(letter, "sikader-incentives", max_bytes=1000)  # too large: the body is replaced
    written |= {name for name, _ in reference.headers if name.startswith("dlq_")}
    assert {"dlq_topic", "dlq_partition", "dlq_offset", "dlq_error", "dlq_attempts", "dlq_consumer"} <= written
    assert "dlq_body_sha256" in written
    message = PLATFORM["components"]["messages"]["DeadLetter"]
    assert written <= set(message["headers"]["properties"])
    assert set(message["headers"]["required"]) == written - {"dlq_body_omitted", "dlq_body_size", "dlq_body_sha256"}
    body_headers = {k: v.decode() for k, v in reference.headers}
    within(PLATFORM, message["headers"]).validate(body_headers)  # what the publisher really writes
    within(PLATFORM, message["payload"]).validate(json.loads(reference.value or b""))
    for service in topics.SERVICES:
        channel = PLATFORM["channels"][topics.dlq_topic(service)]
        assert channel["messages"] == {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}}
        assert channel["x-sikader-agency-read"] is False


# ----------------------------------------------------------------------------- servers and access


def test_server_is_the_agencies_address_with_scram_over_tls() -> None:
    server = PLATFORM["servers"]["agencies"]
    assert server["host"] == asyncapi.DEFAULT_SERVER and server["protocol"] == "kafka-secure"
    assert server["security"] == [{"$ref": "#/components/securitySchemes/agencyScram"}]
    assert PLATFORM["components"]["securitySchemes"]["agencyScram"]["type"] == "scramSha512"


def test_server_address_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIKADER_ASYNCAPI_KAFKA_SERVER", "kafka.balikpapan.go.id:9094")
    wiring = importlib.import_module("certification.app").WIRING
    doc = asyncapi.service_document(wiring.definition())
    assert doc["servers"]["agencies"]["host"] == "kafka.balikpapan.go.id:9094"
    assert spec_errors(doc) == []


def test_the_document_says_which_channels_agencies_may_read() -> None:
    readable = {t for t, ch in PLATFORM["channels"].items() if ch["x-sikader-agency-read"]}
    assert readable == {topics.POSYANDU, topics.CADRE, topics.CERTIFICATION, topics.INCENTIVES, topics.NOTIFICATIONS}
    for topic, channel in PLATFORM["channels"].items():
        tags = {t["name"] for t in channel["tags"]}
        assert ("agency-readable" in tags) == (topic in readable)
    assert "restricted" in {t["name"] for t in PLATFORM["channels"][topics.CADRE_PRIVATE]["tags"]}


# ----------------------------------------------------------------------------- docs/asyncapi.json


def test_platform_document_is_up_to_date() -> None:
    current = asyncapi.DEFAULT_OUT.read_text(encoding="utf-8") if asyncapi.DEFAULT_OUT.exists() else ""
    assert current == asyncapi.render(asyncapi.platform_document()), "docs/asyncapi.json is stale: run `make asyncapi`"
    assert asyncapi.main(["--check"]) == 0


def test_agency_access_in_the_document_matches_the_broker_acls() -> None:
    """What the document promises agencies is what kafka_access grants them."""
    access = pytest.importorskip("sikader_shared.kafka_access")
    assert list(asyncapi.AGENCY_READABLE) == access.public_topics()
    assert access.agency_group_prefix("dinkes") == asyncapi.AGENCY_GROUP_PREFIX.replace("<client>", "dinkes")
