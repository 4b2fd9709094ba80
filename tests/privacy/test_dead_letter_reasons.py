"""The reason a consumer gives for dead-lettering a message goes into the `dlq_error` header
and the service's log. The message itself travels to the DLQ unchanged (CONTRACT.md), but
the reason must not repeat the personal data a broken or hostile producer put in it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from sikader_shared.events import CadreRegistered
from sikader_shared.inbox import DeadLetter, EventConsumer
from tests.privacy.scan import KnownValues

NIK = "6471014507880003"
PHONE = "0821-7777-0199"
EMAIL = "penyusup@contoh.example"


async def _apply(*_: Any) -> None:
    raise AssertionError("a malformed message reached the handler")


def consumer() -> EventConsumer:
    def no_uow(*_: Any, **__: Any) -> Any:
        raise AssertionError("decoding needs no database")

    return EventConsumer("privacy-probe", {CadreRegistered: _apply}, no_uow)


def record(body: bytes, **headers: str) -> ConsumerRecord[bytes, bytes]:
    h = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": "sikader/registry",
        "ce_type": CadreRegistered.ce_type(),
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
        **headers,
    }
    encoded = [(k, v.encode()) for k, v in h.items()]
    return ConsumerRecord("sikader.registry.cadre.v1", 0, 7, 0, 0, b"k", body, None, 1, len(body), encoded)


def leaked(reason: str) -> list[str]:
    known = KnownValues()
    for kind, value in (("nik", NIK), ("phone", PHONE), ("email", EMAIL)):
        known.add(kind, value, "intruder")
    return [str(hit) for hit in known.find(reason, "dlq_error")]


def dead_letter(rec: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    out = consumer().decode(rec)
    assert isinstance(out, DeadLetter), out
    return out


def test_body_failures_are_explained_without_the_body() -> None:
    not_json = f'{{"nik": "{NIK}", "phone": "{PHONE}", "email": '.encode()
    wrong_types = json.dumps(
        {"cadre_id": int(NIK), "name": int(NIK), "kelurahan_code": EMAIL, "kecamatan_code": PHONE, "nik": NIK}
    ).encode()
    for body in (not_json, wrong_types):
        reason = dead_letter(record(body)).error
        assert reason and not leaked(reason), reason


def test_header_failures_are_explained_without_the_header_value() -> None:
    for headers in ({"ce_time": NIK}, {"ce_specversion": f"1.0 {EMAIL}"}):
        reason = dead_letter(record(b"{}", **headers)).error
        assert reason and not leaked(reason), reason
