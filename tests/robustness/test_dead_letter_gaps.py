"""Malformed messages the fuzzing found the consumer mishandling (since fixed in
shared/sikader_shared/inbox.py and envelope.py): an id the inbox cannot store, a missing
contract header, and a valid repeat arriving in one batch after a conflicting one."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from certification.adapters.tables import CadreRow
from certification.app import definition
from certification.settings import CertificationSettings
from sikader_shared import topics
from sikader_shared.envelope import encode_headers
from sikader_shared.events import CadreRegistered
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import envelope_for, headers_of, publish_raw, read_topic, wait_for
from sikader_shared.testing.services import InProcessService
from tests.conftest import settings_for

pytestmark = [pytest.mark.integration]


def _event(name: str) -> tuple[CadreRegistered, dict[str, str], bytes]:
    event = CadreRegistered(
        cadre_id=str(uuid.uuid4()),
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        name=name,
        status="active",
        registered_at=datetime(2026, 1, 5, tzinfo=UTC),
    )
    headers = envelope_for(event, service="registry").headers()
    return event, headers, json.dumps(event.to_json_dict()).encode()


async def cadre_known(svc: InProcessService, cadre_id: str) -> bool:
    async with svc.runtime.sessions() as session:
        return await session.get(CadreRow, cadre_id) is not None


async def _dead_letters_then_good(broker, databases, run_service, bad_headers: list[dict[str, str]]) -> None:
    """Publishes one message per header set (valid bodies), then a good event on the same
    partition; expects each bad one dead-lettered and the good one applied within 20 s."""
    svc = await run_service(definition(settings_for(CertificationSettings, broker, databases("certification"))))
    key = str(uuid.uuid4()).encode()
    messages = []
    for headers in bad_headers:
        _, _, body = _event("Kader Rusak")
        messages.append((key, body, encode_headers(headers)))
    good, good_headers, good_body = _event("Kader Baik")
    messages.append((key, good_body, encode_headers(good_headers)))
    await publish_raw(broker.bootstrap, topics.CADRE, messages)

    await eventually(
        lambda: cadre_known(svc, good.cadre_id), "the good event behind the malformed ones applied", interval=0.3
    )
    dlq = await read_topic(broker.bootstrap, topics.dlq_topic("certification"))
    assert len(dlq) == len(bad_headers), [headers_of(r).get("dlq_error") for r in dlq]


async def test_unstorable_ce_id_is_dead_lettered(broker, databases, run_service) -> None:
    _, h1, _ = _event("x")
    _, h2, _ = _event("y")
    await _dead_letters_then_good(
        broker, databases, run_service, [{**h1, "ce_id": "k" * 150}, {**h2, "ce_id": f"{uuid.uuid4()}\x00"}]
    )


async def test_missing_required_headers_are_dead_lettered(broker, databases, run_service) -> None:
    bad = []
    for name in ("ce_time", "ce_subject", "content-type", "ce_actor", "ce_correlationid", "ce_causationid"):
        _, h, _ = _event("x")
        del h[name]
        bad.append(h)
    await _dead_letters_then_good(broker, databases, run_service, bad)


async def test_same_body_after_other_body_in_one_batch_is_skipped(broker, databases, run_service) -> None:
    svc = await run_service(definition(settings_for(CertificationSettings, broker, databases("certification"))))
    event, headers, body = _event("Kader Asli")
    key = event.cadre_id.encode()
    await publish_raw(broker.bootstrap, topics.CADRE, [(key, body, encode_headers(headers))])
    await eventually(lambda: cadre_known(svc, event.cadre_id), "the first event applied", interval=0.2)
    other = json.dumps({**event.to_json_dict(), "name": "Kader Lain"}).encode()
    # One produce call, one partition: the consumer gets both in one batch.
    await publish_raw(
        broker.bootstrap, topics.CADRE, [(key, other, encode_headers(headers)), (key, body, encode_headers(headers))]
    )
    await wait_for(broker.bootstrap, topics.dlq_topic("certification"), lambda r: True)
    await asyncio.sleep(2)  # time for a wrong second dead letter to show up
    dlq = await read_topic(broker.bootstrap, topics.dlq_topic("certification"))
    assert [r.value for r in dlq] == [other], [headers_of(r).get("dlq_error") for r in dlq]
