"""Publishing registry and certification events as the other services would, and starting
the incentives service, for the integration tests."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, date, datetime
from typing import Any

from incentives.app import definition
from incentives.settings import IncentivesSettings
from sikader_shared import events as ev
from sikader_shared.auth import issue_key
from sikader_shared.clock import FixedClock
from sikader_shared.crypto import FieldCipher
from sikader_shared.envelope import Envelope
from sikader_shared.testing.kafka import as_message, envelope_for, headers_of, publish_raw, read_topic
from sikader_shared.uow import Actor
from tests.conftest import PAYMENT_KEY, settings_for

ADMIN = Actor(client_id="admin", scopes=frozenset({"admin"}))
# 20 Nov 2026, noon in Balikpapan: the open period is 2026-11, the previous one 2026-10.
NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)
KEL_A, KEL_B, KEL_C = "64.71.01.1001", "64.71.01.1002", "64.71.02.1001"


def new_id() -> str:
    return str(uuid.uuid4())


async def start_incentives(run_service: Any, broker: Any, databases: Any, clock: FixedClock | None = None) -> Any:
    settings = settings_for(IncentivesSettings, broker, databases("incentives"), projector_idle_s=0.05)
    return await run_service(definition(settings, clock or FixedClock(NOW)))  # type: ignore[arg-type]


async def key(svc: Any, client: str, *scopes: str) -> str:
    async with svc.runtime.uow(actor=ADMIN) as uow:
        _, k = await issue_key(uow, client, list(scopes))
        await uow.commit()
    return k


class Registry:
    """Publishes events the way the registry and certification services do."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    async def publish(self, *events: ev.Event) -> list[Envelope]:
        envs = []
        by_topic: dict[str, list[Any]] = {}
        for e in events:
            service = "certification" if e.service == "certification" else "registry"
            env = envelope_for(e, service=service, actor="dinkes")
            envs.append(env)
            by_topic.setdefault(e.topic, []).append(as_message(e, env))
            await asyncio.sleep(0.002)  # distinct ce_time per event, in order
        for topic, messages in by_topic.items():
            await publish_raw(self.bootstrap, topic, messages)
        return envs

    async def posyandu(self, kel: str = KEL_A, verified: bool = True, name: str = "Melati") -> tuple[str, list[str]]:
        pid = new_id()
        reg = ev.PosyanduRegistered(
            posyandu_id=pid,
            kelurahan_code=kel,
            kecamatan_code=kel[:8],
            name=f"Posyandu {name}",
            posyandu_type="balita",
            status="active",
            verification_status="PENDING",
            registered_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
        events: list[ev.Event] = [reg]
        if verified:
            events.append(
                ev.PosyanduFacilityVerified(
                    posyandu_id=pid,
                    kelurahan_code=kel,
                    kecamatan_code=kel[:8],
                    name=f"Posyandu {name}",
                    verified_by="dinkes",
                    verified_at=datetime(2026, 2, 1, tzinfo=UTC),
                )
            )
        envs = await self.publish(*events)
        return pid, [e.id for e in envs]

    @staticmethod
    def cadre_registered(
        pid: str | None, kel: str = KEL_A, joined: date | None = None, **kw: Any
    ) -> ev.CadreRegistered:
        return ev.CadreRegistered(
            cadre_id=kw.pop("cadre_id", new_id()),
            kelurahan_code=kel,
            kecamatan_code=kel[:8],
            name=kw.pop("name", "Siti Aminah"),
            status="active",
            posyandu_id=pid,
            posyandu_role="core",
            joined_on=joined or date(2015, 3, 1),
            registered_at=kw.pop("registered_at", datetime(2026, 1, 10, tzinfo=UTC)),
        )

    @staticmethod
    def certified(cadre_id: str, level: str = "Madya", kel: str = KEL_A) -> ev.CadreCertified:
        return ev.CadreCertified(
            cadre_id=cadre_id,
            kelurahan_code=kel,
            kecamatan_code=kel[:8],
            certificate_id=new_id(),
            certificate_number=f"KDR-2026-{uuid.uuid4().int % 10**6:06d}",
            level=level,
            status="valid",
            expires_on=date(2029, 1, 1),
            cadre_name="Siti Aminah",
            issued_on=date(2026, 3, 1),
            issuer="Dinas Kesehatan Kota Balikpapan",
        )

    @staticmethod
    def payment_details(cadre_id: str, account: str = "0123456789") -> ev.CadrePaymentDetailsChanged:
        c = FieldCipher(PAYMENT_KEY)
        return ev.CadrePaymentDetailsChanged(
            cadre_id=cadre_id,
            key_id=c.key_id,
            changed_at=datetime(2026, 3, 1, tzinfo=UTC),
            method="bank",
            bank_enc=c.encrypt("BPD-KALTIMTARA"),
            account_number_enc=c.encrypt(account),
            account_holder_enc=c.encrypt("Siti Aminah"),
        )


def body(record: Any) -> dict[str, Any]:
    return dict(json.loads(record.value))


async def incentive_events(bootstrap: str, ce_type: str) -> list[tuple[dict[str, str], dict[str, Any]]]:
    records = await read_topic(bootstrap, ev.IncentiveEligibilityChanged.topic, idle_polls=1)
    return [(headers_of(r), body(r)) for r in records if headers_of(r).get("ce_type") == ce_type]


async def wait_events(
    bootstrap: str, event: type[ev.Event], where: Any, count: int = 1, timeout: float = 30.0
) -> list[tuple[dict[str, str], dict[str, Any]]]:
    deadline = time.monotonic() + timeout
    found: list[tuple[dict[str, str], dict[str, Any]]] = []
    while time.monotonic() < deadline:
        found = [(h, b) for h, b in await incentive_events(bootstrap, event.ce_type()) if where(b)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"{len(found)}/{count} {event.event_name} after {timeout}s: {found}")


async def settled(svc: Any, envelopes: list[Envelope], timeout: float = 30.0) -> None:
    """Until these events were applied (inbox) and the projector has nothing staged."""
    from sqlalchemy import func, select
    from sqlmodel import col

    from incentives.adapters.tables import StagedInputRow
    from sikader_shared.db import InboxRecord

    ids = [e.id for e in envelopes]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with svc.runtime.sessions() as session:
            applied = int(await session.scalar(select(func.count()).where(col(InboxRecord.event_id).in_(ids))) or 0)
            staged = int(await session.scalar(select(func.count()).select_from(StagedInputRow)) or 0)
        if applied == len(ids) and staged == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"incentives did not apply {len(ids)} events in {timeout}s")
