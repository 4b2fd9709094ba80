"""CloudEvents 1.0 in Kafka binary mode: attributes as `ce_*` headers, the event data as the
JSON body, the aggregate id as the message key."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
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
    event_id = str(uuid.uuid4())
    return Envelope(
        id=event_id,
        source=f"sikader/{service}",
        type=ce_type,
        time=time,
        subject=subject,
        actor=actor or SYSTEM_ACTOR,
        # A chain starts with its own id as correlation; a first event has no cause but itself.
        correlation_id=correlation_id or event_id,
        causation_id=causation_id or correlation_id or event_id,
    )


class EnvelopeError(ValueError):
    pass


def headers_to_dict(raw: Iterable[tuple[str, bytes | None]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in raw:
        if value is None:
            continue
        try:
            out[name] = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise EnvelopeError(f"header {name} is not UTF-8") from exc
    return out


def parse_envelope(headers: dict[str, str]) -> Envelope:
    missing = [h for h in ("ce_specversion", "ce_id", "ce_type", "ce_source") if not headers.get(h)]
    if missing:
        raise EnvelopeError(f"missing CloudEvents headers: {', '.join(missing)}")
    if headers["ce_specversion"] != SPECVERSION:
        raise EnvelopeError(f"unsupported ce_specversion {headers['ce_specversion']!r}")
    time_raw = headers.get("ce_time", "")
    try:
        time = datetime.fromisoformat(time_raw.replace("Z", "+00:00")) if time_raw else datetime.min
    except ValueError as exc:
        raise EnvelopeError(f"ce_time {time_raw!r} is not RFC 3339") from exc
    return Envelope(
        id=headers["ce_id"],
        source=headers["ce_source"],
        type=headers["ce_type"],
        time=time,
        subject=headers.get("ce_subject", ""),
        actor=headers.get("ce_actor", SYSTEM_ACTOR),
        correlation_id=headers.get("ce_correlationid", headers["ce_id"]),
        causation_id=headers.get("ce_causationid", headers["ce_id"]),
    )


def encode_headers(headers: dict[str, str]) -> list[tuple[str, bytes]]:
    return [(k, v.encode("utf-8")) for k, v in headers.items()]
