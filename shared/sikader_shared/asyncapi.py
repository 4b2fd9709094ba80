"""AsyncAPI 3.0 documents built from the event catalogue (`events`, `topics`, `schemas/`).

- One channel per topic: its address is the topic name, its messages every event on it, its
  Kafka binding the partitions. DLQ topics are channels too, with the `dlq_*` headers.
- One message per event type: the CloudEvents binary-mode headers as a schema, the payload
  taken from the checked-in JSON Schema (`schemas/<ce_type>.json`, its `$defs` moved into
  `components/schemas`), the key (the aggregate id) in the Kafka binding, correlationId at
  `$message.header#/ce_correlationid`, and an example from `events.samples`.
- Servers: the address agencies use (a setting), SASL/SCRAM-SHA-512 over TLS.

`service_document` is what a service serves at /asyncapi.json (the topics it publishes and
consumes, send/receive operations); `platform_document` covers every topic (docs/asyncapi.json,
written by `python -m sikader_shared.asyncapi`, checked by a test).
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sikader_shared import topics
from sikader_shared.events import EVENT_MODELS
from sikader_shared.events.base import Event
from sikader_shared.events.samples import sample_message
from sikader_shared.schema_export import SCHEMA_DIR

if TYPE_CHECKING:
    from sikader_shared.service import ServiceDefinition

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
DEFAULT_SERVER = "kafka.sikader.example:9094"
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
SECURITY_SCHEME = "agencyScram"
CORRELATION_ID = "ce_correlationid"
DEAD_LETTER = "DeadLetter"
# What an agency's principal may read (the broker's ACLs, `opd.<client>.` consumer groups):
# every topic of the catalogue but the restricted one and the auth topic; never a DLQ topic.
AGENCY_READABLE: tuple[str, ...] = tuple(t.name for t in topics.CATALOGUE if not t.restricted and t.name != topics.AUTH)
AGENCY_GROUP_PREFIX = "opd.<client>."
_SOURCES = "|".join(topics.SERVICES)


@dataclass(frozen=True)
class Operation:
    """One service sending to or receiving from one topic."""

    service: str
    action: str  # "send" | "receive"
    topic: str
    models: tuple[type[Event], ...]  # () on a DLQ topic: the dead letter message

    @property
    def id(self) -> str:
        return f"{self.service}.{self.action}.{self.topic}"


# ----------------------------------------------------------------------------- operations


def models_on(topic: str) -> tuple[type[Event], ...]:
    return tuple(sorted((m for m in EVENT_MODELS.values() if m.topic == topic), key=lambda m: m.ce_type()))


def service_operations(service: str, consumed: Iterable[type[Event]]) -> list[Operation]:
    """What `service` sends (its topics, the auth topic, its DLQ) and receives (by topic)."""
    ops = [
        Operation(service, "send", spec.name, models_on(spec.name))
        for spec in topics.CATALOGUE
        if spec.owner in (service, "*")
    ]
    ops.append(Operation(service, "send", topics.dlq_topic(service), ()))
    by_topic: dict[str, set[type[Event]]] = {}
    for model in consumed:
        by_topic.setdefault(model.topic, set()).add(model)
    order = [t.name for t in topics.CATALOGUE]
    for topic in sorted(by_topic, key=order.index):
        ops.append(Operation(service, "receive", topic, tuple(sorted(by_topic[topic], key=lambda m: m.ce_type()))))
    return ops


# ----------------------------------------------------------------------------- schemas


@functools.cache
def _published_schema(ce_type: str) -> dict[str, Any]:
    return dict(json.loads((SCHEMA_DIR / f"{ce_type}.json").read_text(encoding="utf-8")))


def _rewrite_refs(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite_refs(v) for k, v in node.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            out["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v) for v in node]
    return node


def payload_schema(model: type[Event], shared: dict[str, Any]) -> dict[str, Any]:
    """The checked-in JSON Schema as an AsyncAPI payload; its nested types go to `shared`."""
    schema = copy.deepcopy(_published_schema(model.ce_type()))
    for name, definition in (schema.pop("$defs", None) or {}).items():
        definition = _rewrite_refs(definition)
        if shared.setdefault(name, definition) != definition:
            raise ValueError(f"nested type {name!r} differs between event schemas; rename one")
    for key in ("$schema", "$id"):  # refs resolve against the document, not the schema file
        schema.pop(key, None)
    schema["x-sikader-schema"] = f"shared/sikader_shared/schemas/{model.ce_type()}.json"
    return dict(_rewrite_refs(schema))


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _envelope_props(model: type[Event] | None) -> dict[str, dict[str, Any]]:
    """The `ce_*` header properties; pinned to `model`'s type and source when given."""
    if model is None:
        source: dict[str, Any] = {"pattern": f"^sikader/({_SOURCES})$"}
        pinned: dict[str, Any] = {}
    else:
        one = model.service in topics.SERVICES  # auth events come from whichever service issued the key
        source = {"const": f"sikader/{model.service}"} if one else {"pattern": f"^sikader/({_SOURCES})$"}
        pinned = {"const": model.ce_type()}
    subject = f"the body's `{model.aggregate_field}`" if model else "the aggregate id"
    return {
        "ce_specversion": _text("CloudEvents version", const="1.0"),
        "ce_id": _text("Event id (UUID): the idempotency key; a redelivery carries the same id", maxLength=100),
        "ce_source": _text("The publishing service", **source),
        "ce_type": _text("Event type and major version (selects the body's schema)", **pinned),
        "ce_time": _text("When the change happened (RFC 3339, UTC)", format="date-time"),
        "ce_subject": _text(f"The aggregate id: {subject}, also the Kafka key"),
        "content-type": _text("application/json: binary mode, the body is the event data", const="application/json"),
        "ce_actor": _text("The OPD client (its API key's client id) that caused the change, or 'system'"),
        "ce_correlationid": _text("Id of the first event or request of the chain (tracing)"),
        "ce_causationid": _text("ce_id of the event (or id of the request) that directly caused this one"),
    }


def cloudevents_headers(model: type[Event]) -> dict[str, Any]:
    """The CloudEvents 1.0 binary-mode headers of `model`'s messages (envelope.py)."""
    props = _envelope_props(model)
    return {"type": "object", "required": list(props), "properties": props}


def dead_letter_headers() -> dict[str, Any]:
    """The headers of a DLQ message: the original's (`ce_*` when it had them) and `dlq_*`."""
    dlq = {
        "dlq_topic": _text("Topic the message was read from"),
        "dlq_partition": _text("Its partition (decimal)", pattern="^[0-9]+$"),
        "dlq_offset": _text("Its offset (decimal)", pattern="^[0-9]+$"),
        "dlq_error": _text(
            "Why it was dead-lettered (at most 1,000 characters; never a field's value)", maxLength=1000
        ),
        "dlq_attempts": _text("Handler attempts made (decimal)", pattern="^[0-9]+$"),
        "dlq_consumer": _text("The consumer group that gave up on it, e.g. sikader-notifications"),
    }
    omitted = {
        "dlq_body_omitted": _text("'true' when the body was too large and replaced by a reference", const="true"),
        "dlq_body_size": _text("Size of the omitted body in bytes", pattern="^[0-9]+$"),
        "dlq_body_sha256": _text("SHA-256 (hex) of the omitted body", pattern="^[0-9a-f]{64}$"),
    }
    original = {
        name: {"type": "string", "description": f"{prop['description']} (the original's, when it had one)"}
        for name, prop in _envelope_props(None).items()
    }
    return {"type": "object", "required": list(dlq), "properties": {**dlq, **omitted, **original}}


def dead_letter_body_reference() -> dict[str, Any]:
    props = {
        "dlq_body_omitted": {"type": "boolean", "const": True},
        "topic": _text("Topic of the original message"),
        "partition": {"type": "integer", "minimum": 0},
        "offset": {"type": "integer", "minimum": 0},
        "size": {"type": "integer", "minimum": 0, "description": "Size of the original body in bytes"},
        "sha256": _text("SHA-256 (hex) of the original body"),
    }
    return {
        "type": "object",
        "description": "Replaces a body too large for the DLQ topic; the original stays on its topic",
        "required": list(props),
        "properties": props,
    }


# ----------------------------------------------------------------------------- messages


def event_message(model: type[Event], shared: dict[str, Any]) -> dict[str, Any]:
    example = sample_message(model)
    doc = (model.__doc__ or "").strip() if "__doc__" in vars(model) else ""
    return {
        "name": model.event_name,
        "title": f"{model.event_name} v{model.version}",
        "summary": doc.split("\n\n")[0].replace("\n", " ") or f"{model.event_name} ({model.ce_type()})",
        "description": f"`ce_type` {model.ce_type()}; key and `ce_subject`: `{model.aggregate_field}`.",
        "contentType": "application/json",
        "headers": cloudevents_headers(model),
        "payload": payload_schema(model, shared),
        "correlationId": {"$ref": f"#/components/correlationIds/{CORRELATION_ID}"},
        "bindings": {
            "kafka": {
                "key": _text(
                    f"The aggregate id (`{model.aggregate_field}`): one aggregate's events share a partition "
                    "(murmur2, Kafka's default partitioner), in order"
                ),
                "bindingVersion": KAFKA_BINDING,
            }
        },
        "examples": [
            {
                "name": f"{model.event_name}-sample",
                "summary": f"Balikpapan sample; Kafka key {example.key}",
                "headers": example.headers,
                "payload": example.body,
            }
        ],
    }


def dead_letter_message() -> dict[str, Any]:
    from sikader_shared.events import CadreCertified

    original = sample_message(CadreCertified)
    headers = {
        **original.headers,
        "dlq_topic": topics.CERTIFICATION,
        "dlq_partition": "3",
        "dlq_offset": "1024",
        "dlq_error": "handler failed 3 times: IntegrityError",
        "dlq_attempts": "3",
        "dlq_consumer": "sikader-incentives",
    }
    return {
        "name": DEAD_LETTER,
        "title": "Dead letter",
        "summary": "A message a consumer gave up on: the original key, headers and body, with dlq_* headers",
        "headers": dead_letter_headers(),
        "payload": {
            "anyOf": [
                {"$ref": "#/components/schemas/DeadLetterBodyReference"},
                {"description": "The original body, unchanged (usually an event's JSON; may be any bytes)"},
            ]
        },
        "correlationId": {"$ref": f"#/components/correlationIds/{CORRELATION_ID}"},
        "bindings": {"kafka": {"key": _text("The original message's key"), "bindingVersion": KAFKA_BINDING}},
        "examples": [
            {
                "name": "DeadLetter-sample",
                "summary": "A CadreCertified incentives could not handle",
                "headers": headers,
                "payload": original.body,
            }
        ],
    }


# ----------------------------------------------------------------------------- channels


def _restricted(topic: str) -> bool:
    return any(t.name == topic and t.restricted for t in topics.CATALOGUE)


def channel(topic: str, partitions: int) -> dict[str, Any]:
    """One topic: every message on it, its partitions, and whether agencies may read it."""
    spec = next((t for t in topics.CATALOGUE if t.name == topic), None)
    readable = topic in AGENCY_READABLE
    if spec is not None:
        description = spec.description + "."
        messages = {m.event_name: {"$ref": f"#/components/messages/{m.ce_type()}"} for m in models_on(topic)}
    else:
        description = "Dead letters of one service's consumer: the messages it gave up on, with dlq_* headers."
        messages = {DEAD_LETTER: {"$ref": f"#/components/messages/{DEAD_LETTER}"}}
    access = (
        f"Agencies may read it (consumer groups `{AGENCY_GROUP_PREFIX}*`)."
        if readable
        else "Not readable by agencies (internal to the platform)."
    )
    return {
        "address": topic,
        "title": topic,
        "description": f"{description} {access}",
        "messages": messages,
        "tags": [{"name": "agency-readable" if readable else "internal"}]
        + ([{"name": "restricted"}] if _restricted(topic) else []),
        "bindings": {"kafka": {"topic": topic, "partitions": partitions, "bindingVersion": KAFKA_BINDING}},
        "x-sikader-agency-read": readable,
    }


def operation(op: Operation) -> dict[str, Any]:
    names = [m.event_name for m in op.models] or [DEAD_LETTER]
    verb = "publishes" if op.action == "send" else "consumes"
    result: dict[str, Any] = {
        "action": op.action,
        "channel": {"$ref": f"#/channels/{op.topic}"},
        "title": f"{op.service} {verb} {op.topic}",
        "summary": f"{op.service} {verb} " + ", ".join(names),
        "messages": [{"$ref": f"#/channels/{op.topic}/messages/{name}"} for name in names],
    }
    if op.action == "receive":
        group = {"type": "string", "const": f"sikader-{op.service}"}
        result["bindings"] = {"kafka": {"groupId": group, "bindingVersion": KAFKA_BINDING}}
    return result


# ----------------------------------------------------------------------------- documents


def _servers(server: str) -> dict[str, Any]:
    return {
        "agencies": {
            "host": server,
            "protocol": "kafka-secure",
            "title": "Kafka for agencies (OPD)",
            "description": (
                "SASL_SSL: TLS, and SASL/SCRAM-SHA-512 with one user per agency (issued by the platform operator). "
                f"An agency reads {', '.join(AGENCY_READABLE)}, with consumer groups named `{AGENCY_GROUP_PREFIX}*`; "
                "it writes nowhere and never reads the restricted, auth or DLQ topics."
            ),
            "security": [{"$ref": f"#/components/securitySchemes/{SECURITY_SCHEME}"}],
            "bindings": {"kafka": {"bindingVersion": KAFKA_BINDING}},
        }
    }


def _components(ops: Sequence[Operation]) -> dict[str, Any]:
    shared: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in dict.fromkeys(op.topic for op in ops):
        for model in models_on(topic):
            messages[model.ce_type()] = event_message(model, shared)
        if not models_on(topic):
            messages[DEAD_LETTER] = dead_letter_message()
            shared["DeadLetterBodyReference"] = dead_letter_body_reference()
    return {
        "schemas": dict(sorted(shared.items())),
        "messages": messages,
        "correlationIds": {
            CORRELATION_ID: {
                "location": f"$message.header#/{CORRELATION_ID}",
                "description": "Id of the first event or request of a chain: every event it caused carries it",
            }
        },
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "scramSha512",
                "description": "SASL/SCRAM-SHA-512 over TLS (security.protocol SASL_SSL); one user per agency",
            }
        },
    }


def build(
    title: str, version: str, description: str, ops: Sequence[Operation], *, server: str, partitions: int
) -> dict[str, Any]:
    """The AsyncAPI 3.0 document of `ops`: their channels, messages and operations."""
    order = topics.all_topic_names()
    channel_topics = sorted(dict.fromkeys(op.topic for op in ops), key=order.index)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": title,
            "version": version,
            "description": description + "\n\n" + _CONVENTIONS,
            "license": {"name": "Proprietary: Pemerintah Kota Balikpapan"},
            "tags": [{"name": "agency-readable", "description": "Agencies may read this channel"}],
        },
        "defaultContentType": "application/json",
        "servers": _servers(server),
        "channels": {topic: channel(topic, partitions) for topic in channel_topics},
        "operations": {op.id: operation(op) for op in ops},
        "components": _components(ops),
    }


_CONVENTIONS = (
    "Every event is a CloudEvents 1.0 message in Kafka binary mode: the attributes are `ce_*` headers, "
    "the body is the event's JSON, the key is the aggregate id (so one aggregate's events keep their order "
    "on one partition). Delivery is at least once: process idempotently by `ce_id`. "
    f"Agencies may read: {', '.join(AGENCY_READABLE)}; consumer groups `{AGENCY_GROUP_PREFIX}*`."
)


def service_document(definition: ServiceDefinition) -> dict[str, Any]:
    """The document a service serves: the topics it publishes and consumes."""
    from sikader_shared.auth import AUTH_HANDLERS

    consumed = [*AUTH_HANDLERS, *definition.event_handlers]
    settings = definition.settings
    return build(
        f"sikader {definition.name}",
        definition.version,
        definition.description,
        service_operations(definition.name, consumed),
        server=settings.asyncapi_kafka_server,
        partitions=settings.topic_partitions,
    )


def platform_operations() -> list[Operation]:
    """Every service's operations, from its wiring (the handlers it registers). Imports the
    four service packages: for generating docs/asyncapi.json and for tests, not at run time."""
    import importlib

    from sikader_shared.auth import AUTH_HANDLERS

    ops: list[Operation] = []
    for service in topics.SERVICES:
        wiring = importlib.import_module(f"{service}.app").WIRING
        handlers = wiring.event_handlers(wiring.make_config(wiring.settings_type()))
        ops += service_operations(service, [*AUTH_HANDLERS, *handlers])
    return ops


def platform_document(server: str = DEFAULT_SERVER, partitions: int = topics.MIN_PARTITIONS) -> dict[str, Any]:
    """Every topic of the platform, with every service's send and receive operations."""
    return build(
        "sikader platform events",
        "1.0.0",
        "The events of Sikader, the cadre register of Kota Balikpapan: every topic of the platform.",
        platform_operations(),
        server=server,
        partitions=partitions,
    )


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write (or --check) docs/asyncapi.json, the platform document.")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # loading each service's config warns about keys not set here
    try:
        text = render(platform_document())
    finally:
        logging.disable(logging.NOTSET)
    if args.check:
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:
            print(f"{args.out} is out of date: run `make asyncapi`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
