"""Helpers for the certification integration tests: start the service, feed it registry
events over the real broker, read what it published."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

from aiokafka.structs import ConsumerRecord

from certification.app import definition
from certification.settings import CertificationSettings
from sikader_shared import topics
from sikader_shared.auth import issue_key
from sikader_shared.clock import FixedClock
from sikader_shared.envelope import new_envelope
from sikader_shared.events import CadreDeactivated, CadreReactivated, CadreRegistered
from sikader_shared.events.base import Event
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import as_message, envelope_for, headers_of, publish_raw, read_topic
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor
from tests.conftest import settings_for

ADMIN = Actor(client_id="test-admin", scopes=frozenset({"admin"}))
START = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 WITA
KELURAHAN, KECAMATAN = "64.71.02.1001", "64.71.02"
Message = tuple[bytes, bytes, list[tuple[str, bytes]]]


async def start_certification(
    broker: Any, databases: Any, run_service: Any, clock: FixedClock | None = None, **overrides: Any
) -> InProcessService:
    settings = settings_for(CertificationSettings, broker, databases("certification"), **overrides)
    assert isinstance(settings, CertificationSettings)
    svc: InProcessService = await run_service(definition(settings, clock or FixedClock(START)))
    return svc


async def key(runtime: ServiceRuntime, client: str, *scopes: str) -> str:
    async with runtime.uow(actor=ADMIN) as uow:
        _, secret = await issue_key(uow, client, list(scopes))
        await uow.commit()
    return secret


def registered(name: str = "Siti Aminah", status: str = "active", cadre_id: str | None = None) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=cadre_id or str(uuid.uuid4()),
        kelurahan_code=KELURAHAN,
        kecamatan_code=KECAMATAN,
        name=name,
        roles=["posyandu_cadre"],
        status=status,  # type: ignore[arg-type]
        posyandu_id=str(uuid.uuid4()),
        posyandu_role="core",
        registered_at=datetime.now(UTC),
    )


def deactivated(cadre_id: str) -> CadreDeactivated:
    return CadreDeactivated(
        cadre_id=cadre_id,
        kelurahan_code=KELURAHAN,
        kecamatan_code=KECAMATAN,
        reason="pindah domisili",
        effective_on=date(2026, 11, 21),
    )


def reactivated(cadre_id: str) -> CadreReactivated:
    return CadreReactivated(
        cadre_id=cadre_id, kelurahan_code=KELURAHAN, kecamatan_code=KECAMATAN, effective_on=date(2026, 11, 22)
    )


async def publish(bootstrap: str, *events: Event, at: datetime | None = None) -> list[Message]:
    """Publish registry events as the registry would (its envelope); `at` backdates ce_time."""
    messages = []
    for event in events:
        env = envelope_for(event, service="registry", actor="dinsos")
        if at is not None:
            env = new_envelope(
                service="registry", ce_type=event.ce_type(), subject=event.aggregate_id(), time=at, actor="dinsos"
            )
        messages.append(as_message(event, env))
    await publish_raw(bootstrap, topics.CADRE, messages)
    return messages


async def known(client: Any, cadre_id: str, status: str = "active") -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/cadres/{cadre_id}")
        return r.json() if r.status_code == 200 and r.json()["status"] == status else None

    result: dict[str, Any] = await eventually(check)
    return result


def passes(*group_codes: str) -> list[dict[str, Any]]:
    return [{"skill_code": f"{g}.{i}", "passed": True} for g in group_codes for i in range(1, 6)]


def assessment(cadre_id: str, *group_codes: str, on: str = "2026-11-19") -> dict[str, Any]:
    return {
        "cadre_id": cadre_id,
        "assessor": "Puskesmas Klandasan Ilir",
        "assessed_on": on,
        "results": passes(*group_codes),
    }


async def certification_events(
    bootstrap: str, name: str, cadre_id: str | None = None, count: int = 1, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Wait until `count` events of type `name` (for `cadre_id`) are on the certification
    topic; returns their bodies with the headers under '_headers'."""
    ce_type = f"sikader.certification.{name}.v1"

    def match(r: ConsumerRecord[bytes, bytes]) -> bool:
        return headers_of(r).get("ce_type") == ce_type and (cadre_id is None or r.key == cadre_id.encode())

    deadline = time.monotonic() + timeout
    found: list[ConsumerRecord[bytes, bytes]] = []
    while time.monotonic() < deadline:
        found = [r for r in await read_topic(bootstrap, topics.CERTIFICATION, idle_polls=1) if match(r)]
        if len(found) >= count:
            break
        await asyncio.sleep(0.2)
    assert len(found) >= count, f"{len(found)}/{count} {name} events for {cadre_id}"
    out = []
    for r in found:
        body = json.loads(r.value)
        body["_headers"] = headers_of(r)
        out.append(body)
    return out
