"""A small city for the handler test tier: the input events of two Posyandu and their cadres,
applied through the consumer's handler table without a broker."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from incentives.config import IncentivesConfig
from incentives.handlers import event_handlers
from sikader_shared import events as ev
from sikader_shared.crypto import FieldCipher
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.testing.kafka import envelope_for
from tests.conftest import PAYMENT_KEY
from tests.incentives.helpers import KEL_A, KEL_B, Registry, new_id

CONFIG = IncentivesConfig(payment_cipher=FieldCipher(PAYMENT_KEY))
HANDLERS = event_handlers(CONFIG)
PERIOD = "2026-03"  # the harness's clock: 15 March 2026


async def feed(db: HandlerHarness, *events: ev.Event, config: IncentivesConfig = CONFIG) -> None:
    """Applies the events as one consumed batch (one transaction), as the consumer does."""
    table = HANDLERS if config is CONFIG else event_handlers(config)
    items = [(e, envelope_for(e, service="registry", actor="dinkes")) for e in events]
    async with db.uow(causation=items[-1][1]) as uow:
        await table[type(events[0])].apply(uow, items)  # type: ignore[attr-defined]
        await uow.commit()


def posyandu(kel: str, *, verified: bool = True) -> tuple[str, list[ev.Event]]:
    pid = new_id()
    out: list[ev.Event] = [
        ev.PosyanduRegistered(
            posyandu_id=pid,
            kelurahan_code=kel,
            kecamatan_code=kel[:8],
            name=f"Posyandu {kel[-4:]}",
            posyandu_type="balita",
            status="active",
            verification_status="PENDING",
            registered_at=datetime(2026, 1, 5, tzinfo=UTC),
        )
    ]
    if verified:
        out.append(
            ev.PosyanduFacilityVerified(
                posyandu_id=pid,
                kelurahan_code=kel,
                kecamatan_code=kel[:8],
                name=f"Posyandu {kel[-4:]}",
                verified_by="dinkes",
                verified_at=datetime(2026, 2, 1, tzinfo=UTC),
            )
        )
    return pid, out


async def small_city(db: HandlerHarness) -> dict[str, Any]:
    """Posyandu A (verified) with three certified cadres, two with payment details;
    Posyandu B (not verified) with one certified cadre."""
    pa, a_events = posyandu(KEL_A)
    pb, b_events = posyandu(KEL_B, verified=False)
    a = [Registry.cadre_registered(pa, KEL_A, joined=date(2012 + i, 1, 1), name=f"Kader A{i}") for i in range(3)]
    b = [Registry.cadre_registered(pb, KEL_B, name="Kader B0")]
    levels = ["Utama", "Madya", "Purwa"]
    certs = [Registry.certified(c.cadre_id, levels[i], KEL_A) for i, c in enumerate(a)]
    certs.append(Registry.certified(b[0].cadre_id, "Madya", KEL_B))
    details = [Registry.payment_details(c.cadre_id, f"70{i:04d}") for i, c in enumerate(a[:2])]
    await feed(db, *a_events, *b_events, *a, *b, *certs, *details)
    return {"pa": pa, "pb": pb, "a": [c.cadre_id for c in a], "b": [c.cadre_id for c in b]}
