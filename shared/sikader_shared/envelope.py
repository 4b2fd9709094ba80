"""CloudEvents 1.0 in Kafka binary mode: attributes as `ce_*` headers, the event data as the
JSON body, the aggregate id as the message key."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sikader_shared.clock import utc

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
REQUIRED_HEADERS = (
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_time",
    "ce_subject",
    "content-type",
    "ce_actor",
    "ce_correlationid",
    "ce_causationid",
)
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Envelope:
    id: str
    source: str
    type: str
    time: datetime
    subject: str
    actor: str
    correlation_id: str
    causation_id: str

    def headers(self) -> dict[str, str]:
        return {
            "ce_specversion": SPECVERSION,
            "ce_id": self.id,
            "ce_source": self.source,
            "ce_type": self.type,
            "ce_time": utc(self.time).isoformat().replace("+00:00", "Z"),
            "ce_subject": self.subject,
            "content-type": CONTENT_TYPE,
            "ce_actor": self.actor,
            "ce_correlationid": self.correlation_id,
            "ce_causationid": self.causation_id,
        }


def new_envelope(
    *,
    service: str,
    ce_type: str,
    subject: str,
    time: datetime,
    actor: str | None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Envelope:
    return new_envelopes(
        service=service,
        items=[(ce_type, subject)],
        time=time,
        actor=actor,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )[0][0]


def new_envelopes(
    *,
    service: str,
    items: Sequence[tuple[str, str]],
    time: datetime,
    actor: str | None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> list[tuple[Envelope, dict[str, str]]]:
    """Envelopes and their headers for events (ce_type, subject) raised together: one time,
    actor and cause. The common headers are formatted once (an import raises ~250,000)."""
    source, actor = f"sikader/{service}", actor or SYSTEM_ACTOR
    base: dict[str, str] | None = None
    out = []
    for ce_type, subject in items:
        event_id = str(uuid.uuid4())
        # A chain starts with its own id as correlation; a first event has no cause but itself.
        correlation = correlation_id or event_id
        causation = causation_id or correlation
        env = object.__new__(Envelope)  # (a frozen dataclass's __init__ costs more than the rest)
        env.__dict__.update(
            id=event_id,
            source=source,
            type=ce_type,
            time=time,
            subject=subject,
            actor=actor,
            correlation_id=correlation,
            causation_id=causation,
        )
        if base is None:
            base = env.headers()
        headers = {
            **base,
            "ce_id": event_id,
            "ce_type": ce_type,
            "ce_subject": subject,
            "ce_correlationid": correlation,
            "ce_causationid": causation,
        }
        out.append((env, headers))
    return out


class EnvelopeError(ValueError):
    pass


def headers_to_dict(raw: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    try:
        return {name: value.decode("utf-8") for name, value in raw if value is not None}
    except UnicodeDecodeError:
        for name, value in raw:
            if value is not None:
                try:
                    value.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise EnvelopeError(f"header {name} is not UTF-8") from exc
        raise


MAX_ID_LENGTH = 100  # the inbox and dead-letter log store ids up to this length


def parse_envelope(headers: dict[str, str]) -> Envelope:
    """The CloudEvents attributes of a consumed message. Errors name the header, never its
    value (a malformed value may carry personal data into the DLQ headers and the logs)."""
    get = headers.get
    event_id, ce_type, source, spec = get("ce_id"), get("ce_type"), get("ce_source"), get("ce_specversion")
    time_raw, subject = get("ce_time"), get("ce_subject")
    if not all(map(get, REQUIRED_HEADERS)):  # (the list of what is missing only when something is)
        missing = [h for h in REQUIRED_HEADERS if not get(h)]
        raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
    assert event_id and ce_type and source and spec and time_raw and subject  # checked just above
    if spec != SPECVERSION:
        raise EnvelopeError(f"unsupported ce_specversion (this consumer reads {SPECVERSION})")
    if not get("content-type", "").startswith(CONTENT_TYPE):
        raise EnvelopeError(f"content-type is not {CONTENT_TYPE} (binary mode, JSON data)")
    if len(event_id) > MAX_ID_LENGTH or not event_id.isprintable():
        raise EnvelopeError(f"ce_id is not an id (printable, at most {MAX_ID_LENGTH} characters)")
    try:
        time = datetime.fromisoformat(time_raw)  # 3.11 reads a "Z" suffix
    except ValueError as exc:
        raise EnvelopeError("ce_time is not an RFC 3339 timestamp") from exc
    # Filled at once: a frozen dataclass's __init__ sets each field through object.__setattr__,
    # which costs more than the rest of the parsing (this runs once per consumed event).
    env = object.__new__(Envelope)
    env.__dict__.update(
        id=event_id,
        source=source,
        type=ce_type,
        time=time,
        subject=subject,
        actor=get("ce_actor", SYSTEM_ACTOR),
        correlation_id=get("ce_correlationid", event_id),
        causation_id=get("ce_causationid", event_id),
    )
    return env


def encode_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode("utf-8")) for k, v in headers.items()]
