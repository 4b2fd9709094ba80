"""The demo loader through the public API, and the background expiry scheduler driven by
the injectable clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from certification.entrypoints.demo import load_demo
from sikader_shared.clock import WITA, FixedClock
from tests.certification.support import certification_events, key, publish, registered, start_certification

pytestmark = pytest.mark.integration


async def test_demo_reaches_every_level_and_the_scheduler_expires_on_its_own(broker, databases, run_service) -> None:
    clock = FixedClock(datetime.now(UTC))
    svc = await start_certification(broker, databases, run_service, clock=clock, expiry_sweep_interval_s=0.2)
    admin = await key(svc.runtime, "dinkes", "admin")
    names = ["Siti Aminah", "Ani Lestari", "Dewi Sartika", "Rina Wati", "Nur Hasanah", "Yuni Astuti", "Sri Wahyuni"]
    cadres = [registered(n) for n in names]
    # Published only now: the loader must wait until the projection knows the cadres.
    async with svc.client(admin) as client:
        await publish(broker.bootstrap, *cadres)
        summary = await load_demo(client, [c.cadre_id for c in cadres], seed=6471)
        assert all(summary["certified"][level] >= 1 for level in ("Purwa", "Madya", "Utama")), summary
        assert summary["trained"] >= 1
        for level, ids in summary["certified_cadres"].items():
            for cadre_id in ids:
                assert (await client.get(f"/cadres/{cadre_id}")).json()["level"] == level
        utama = summary["certified_cadres"]["Utama"][0]
        history = (await client.get(f"/cadres/{utama}/history")).json()
        assert len(history["badges"]) == 25 and history["trainings"] and history["certificates"][0]["level"] == "Utama"
        expires_on = date.fromisoformat(history["certificates"][0]["expires_on"])
    issued = len(summary["certificates"])
    await certification_events(broker.bootstrap, "CadreCertified", count=issued)

    # The background job (not called by the test) announces and expires as the clock moves.
    def at(day: date) -> datetime:
        return datetime.combine(day, time(9, 0), tzinfo=WITA)

    clock.set(at(expires_on - timedelta(days=30)))
    expiring = await certification_events(broker.bootstrap, "CertificateExpiring", count=issued)
    assert {e["certificate_number"] for e in expiring} == set(summary["certificates"])
    assert {e["days_left"] for e in expiring} == {30}
    clock.set(at(expires_on))
    expired = await certification_events(broker.bootstrap, "CertificateExpired", count=issued)
    assert {e["status"] for e in expired} == {"expired"}
    async with svc.client() as public:
        verdict = (await public.get(f"/certificates/{summary['certificates'][0]}/verify")).json()
        assert verdict["status"] == "expired"
    # Announced once, however often the job ran meanwhile.
    assert len(await certification_events(broker.bootstrap, "CertificateExpiring", count=issued)) == issued
