"""The four services started once for the whole security package (in this event loop, on a
real broker and PostgreSQL), with one key per scope, a few OPD clients for the ownership
and segregation-of-duties checks, a key revoked through the CLI, and real resources (a
verified Posyandu, certified cadres with personal data, a training, an approved incentive
period, a webhook subscription, a broadcast) for the matrix to act on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import func, select
from sqlmodel import col

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from incentives.app import definition as incentives_definition
from incentives.settings import IncentivesSettings
from notifications.app import definition as notifications_definition
from notifications.config import NotificationsConfig
from notifications.settings import NotificationsSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared.auth import SCOPES, issue_key
from sikader_shared.cli import run_cli
from sikader_shared.clock import WITA
from sikader_shared.db import ApiKeyRecord, AuditRecord
from sikader_shared.migrations import upgrade_head
from sikader_shared.testing import checks
from sikader_shared.testing.broker import TestBroker, start_test_broker
from sikader_shared.testing.checks import ok
from sikader_shared.testing.database import drop_database, service_database_url
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor
from tests.conftest import settings_for

OPS = Actor(client_id="ops", scopes=frozenset({"admin"}))
WAIT = 60.0  # generous: the machine may be loaded
SERVICES = ("registry", "certification", "incentives", "notifications")
KELURAHAN = "64.71.06.1002"  # Klandasan Ilir, Balikpapan Kota
KECAMATAN = "64.71.06"


def scope_client(scope: str) -> str:
    """Each single-scope key belongs to its own OPD client (so segregation of duties never
    mixes them up); the admin key belongs to the operators."""
    return "ops" if scope == "admin" else "opd-" + scope.replace(":", "-")


# Named keys beyond the one-per-scope set: (client, scopes).
NAMED_KEYS: dict[str, tuple[str, list[str]]] = {
    "writer": ("dinsos", ["registry:read", "registry:write"]),
    "verifier": ("dinkes-verifikasi", ["registry:read", "posyandu:verify"]),
    "reader": ("dp3akb", ["registry:read"]),
    "pii": ("dinsos-pii", ["registry:read", "registry:pii"]),
    "auditor": ("inspektorat", ["audit:read"]),
    "assessor": ("puskesmas-kli", ["certification:assess"]),
    "revoker": ("dinkes-sdmk", ["certification:revoke"]),
    "train-a": ("puskesmas-a", ["certification:train"]),
    "train-b": ("puskesmas-b", ["certification:train"]),
    "calc": ("dinkes", ["incentives:calculate", "incentives:read"]),
    "calc-2": ("dinkes", ["incentives:calculate", "incentives:approve"]),  # same OPD, another key
    "approve-dinkes": ("dinkes", ["incentives:approve"]),
    "approver": ("bpkad", ["incentives:approve", "incentives:read"]),
    "payer": ("bank-kaltimtara", ["incentives:pay"]),
    "sub-a": ("puskesmas-a", ["notifications:subscribe"]),
    "sub-b": ("puskesmas-b", ["notifications:subscribe"]),
    "sub-a2": ("puskesmas-a", ["notifications:subscribe"]),  # a second key of client A
    "bc-a": ("dp3akb-humas", ["notifications:broadcast"]),
    "bc-b": ("diskominfo", ["notifications:broadcast"]),
    "victim": ("ops-old", ["admin"]),  # revoked through the CLI below
}


def make_nik(birth: date, sex: str, serial: int, region: str = "647106") -> str:
    """A NIK that agrees with birth date and sex (women: day + 40), issued in Balikpapan."""
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def cadre_body(serial: int, name: str, **extra: Any) -> dict[str, Any]:
    birth = date(1985, 1 + serial % 12, 1 + serial % 27)
    return {
        "nik": make_nik(birth, "F", serial),
        "name": name,
        "sex": "F",
        "birth_date": birth.isoformat(),
        "roles": ["posyandu_cadre"],
        "joined_on": "2018-06-01",
        **extra,
    }


eventually = partial(checks.eventually, timeout=WAIT)


@dataclass
class Platform:
    broker: TestBroker
    services: dict[str, InProcessService]
    keys: dict[str, str] = field(default_factory=dict)  # principal name -> API key
    key_ids: dict[str, str] = field(default_factory=dict)
    res: dict[str, Any] = field(default_factory=dict)  # resource ids the matrix acts on
    audit_at_start: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # every row, per service
    settings: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str, who: str | None) -> httpx.AsyncClient:
        return self.services[service].client(self.keys[who] if who else None)

    def scope_key(self, scope: str) -> str:
        return self.keys[f"scope:{scope}"]


# Four services share this one event loop with the test: background loops that poll less
# often than the harness's low-latency defaults leave the loop to the thousands of requests.
CALM = {"fetch_max_wait_ms": 500, "broker_check_interval_s": 5.0, "outbox_idle_poll_s": 1.0}


async def _start(broker: TestBroker, urls: dict[str, str], services: dict[str, InProcessService]) -> dict[str, Any]:
    """Fills `services` as it goes, so that teardown stops whatever did start."""
    settings: dict[str, Any] = {
        "registry": settings_for(RegistrySettings, broker, urls["registry"], **CALM),
        "certification": settings_for(CertificationSettings, broker, urls["certification"], **CALM),
        "incentives": settings_for(IncentivesSettings, broker, urls["incentives"], projector_idle_s=1.0, **CALM),
        # No delivery worker: nothing here is about sending, and webhooks/mail stay unsent.
        "notifications": settings_for(
            NotificationsSettings, broker, urls["notifications"], worker_enabled=False, **CALM
        ),
    }
    definitions = {
        "registry": registry_definition(settings["registry"]),
        "certification": certification_definition(settings["certification"]),
        "incentives": incentives_definition(settings["incentives"]),
        "notifications": notifications_definition(settings["notifications"]),
    }
    services.update({name: InProcessService(d) for name, d in definitions.items()})
    # Alembic's context is process-global: migrate one service at a time, then start all.
    for svc in services.values():
        d = svc.definition
        await asyncio.to_thread(upgrade_head, d.service_dir, d.settings.effective_database_url())
    await asyncio.gather(*(s.start(migrate=False) for s in services.values()))
    return settings


async def _issue_keys(p: Platform) -> None:
    """Issued at the registry (as `keys issue` does); sikader.auth.v1 carries them to the
    other services, and we wait until every service knows every key."""
    registry = p.services["registry"]
    async with registry.runtime.uow(actor=OPS) as uow:
        for scope in sorted(SCOPES):
            p.key_ids[f"scope:{scope}"], p.keys[f"scope:{scope}"] = await issue_key(
                uow, scope_client(scope), [scope], label="security matrix"
            )
        for name, (client, scopes) in NAMED_KEYS.items():
            p.key_ids[name], p.keys[name] = await issue_key(uow, client, scopes, label="security tests")
        await uow.commit()

    ids = list(p.key_ids.values())

    async def known(svc: InProcessService) -> None:
        async def all_there() -> bool:
            async with svc.runtime.sessions() as session:
                query = select(func.count()).select_from(ApiKeyRecord).where(col(ApiKeyRecord.key_id).in_(ids))
                return int(await session.scalar(query) or 0) == len(ids)

        await eventually(all_there, f"keys known to {svc.definition.name}")

    await asyncio.gather(*(known(s) for s in p.services.values()))


async def revoke_with_cli(p: Platform, who: str) -> None:
    """`sikader-registry keys revoke <key_id>`: the operator's path, run as the CLI runs it
    (its own event loop, its own engine, the registry's database); the revocation reaches
    the services as ApiKeyRevoked. Waits until every service refuses the key."""
    settings = p.settings["registry"]
    await asyncio.to_thread(
        run_cli, lambda: registry_definition(settings), ["keys", "revoke", p.key_ids[who], "--reason", "leaked"]
    )

    async def refused(svc: InProcessService) -> None:
        async def check() -> bool:
            async with svc.client(p.keys[who]) as c:
                return (await c.get("/auth/whoami")).status_code == 401

        await eventually(check, f"revocation reached {svc.definition.name}")

    await asyncio.gather(*(refused(s) for s in p.services.values()))


def today_wita() -> date:
    return datetime.now(UTC).astimezone(WITA).date()


def period(offset: int = 0) -> str:
    """A calendar month in WITA, `offset` months from the current one."""
    today = today_wita()
    months = today.year * 12 + today.month - 1 + offset
    return f"{months // 12:04d}-{months % 12 + 1:02d}"


def next_period() -> str:
    return period(1)


async def _registry_resources(p: Platform) -> None:
    r = p.res
    today = today_wita().isoformat()
    async with p.client("registry", "writer") as w, p.client("registry", "verifier") as v:

        async def posyandu(name: str, verified: bool) -> str:
            pid = ok(
                await w.post(
                    "/posyandu",
                    json={
                        "name": name,
                        "kelurahan_code": KELURAHAN,
                        "posyandu_type": "balita",
                        "rt": "007",
                        "puskesmas": "Puskesmas Klandasan Ilir",
                        "institution": {"sk_number": f"188.4/{len(r)}/KLI/2025", "sk_date": "2025-02-03"},
                    },
                )
            )["id"]
            assessment = {
                "facility_status": "public_building",
                "equipment": [{"item": "dacin", "available": True, "functional": True}],
                "assessed_by": "Puskesmas Klandasan Ilir",
                "assessed_on": today,
            }
            ok(await w.post(f"/posyandu/{pid}/assessments", json=assessment))
            if verified:
                ok(await v.post(f"/posyandu/{pid}/verification", json={"decision": "VERIFIED", "note": "on site"}))
            return str(pid)

        r["posyandu"] = await posyandu("Posyandu Anggrek Matriks", verified=True)
        r["posyandu_assess"] = await posyandu("Posyandu Mawar Matriks", verified=False)
        r["posyandu_close"] = await posyandu("Posyandu Kenanga Matriks", verified=False)
        pii = {
            "phone": "0812-7788-9900",
            "email": "rahma@example.org",
            "address": "Jl. Jend. Sudirman No. 7, RT 007",
            "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": "0098765432"},
        }
        r["cadre_body"] = cadre_body(1, "Rahmawati Said", posyandu_id=r["posyandu"], posyandu_role="core", **pii)
        r["cadre"] = ok(await w.post("/cadres", json=r["cadre_body"]))["id"]
        revoke_body = cadre_body(2, "Nur Aisyah", posyandu_id=r["posyandu"], **pii)
        r["revoke_nik"] = revoke_body["nik"]
        r["cadre_revoke"] = ok(await w.post("/cadres", json=revoke_body))["id"]
        r["cadre_status"] = ok(await w.post("/cadres", json=cadre_body(3, "Sri Wahyuni", kelurahan_code=KELURAHAN)))[
            "id"
        ]
        r["cadre_move"] = ok(await w.post("/cadres", json=cadre_body(4, "Dewi Lestari", kelurahan_code=KELURAHAN)))[
            "id"
        ]
        r["cadre_at_closing"] = ok(
            await w.post("/cadres", json=cadre_body(5, "Wati Susanti", posyandu_id=r["posyandu_close"]))
        )["id"]


async def _certification_resources(p: Platform) -> None:
    r = p.res
    today = today_wita().isoformat()
    async with p.client("certification", "assessor") as a:
        for cadre in ("cadre", "cadre_revoke"):

            async def known(cadre_id: str = r[cadre]) -> bool:
                return (await a.get(f"/cadres/{cadre_id}")).status_code == 200

            await eventually(known, "certification knows the cadre")
        # Groups 1-3 complete: Purwa.
        results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
        for cadre in ("cadre", "cadre_revoke"):
            body = {"cadre_id": r[cadre], "assessor": "Puskesmas Klandasan Ilir", "assessed_on": today}
            ok(await a.post("/assessments", json={**body, "results": results}))
            [cert] = ok(await a.get("/certificates", params={"cadre_id": r[cadre]}))
            r[f"certificate_of_{cadre}"] = cert["certificate_id"]
            r[f"number_of_{cadre}"] = cert["number"]
    training = {
        "title": "Pelatihan dasar kader Posyandu",
        "skill_codes": ["1.1", "2.1"],
        "started_on": today,
        "ends_on": today,
        "place": "Aula Puskesmas Klandasan Ilir",
        "participants": [r["cadre"]],
    }
    r["training_body"] = training
    async with p.client("certification", "scope:certification:train") as t:
        r["training"] = ok(await t.post("/trainings", json=training))["training_id"]


async def _incentives_resources(p: Platform) -> None:
    """The current month, calculated by dinkes and approved by bpkad: ready to pay."""
    r = p.res
    current = r["period"] = period()
    r["matrix_period"] = period(-1)  # calculated and approved by the matrix itself
    r["sod_period"] = period(-2)  # the segregation-of-duties test's own month
    async with p.client("incentives", "calc") as calc:

        async def eligible() -> bool:
            got = await calc.get(f"/eligibility/{r['cadre']}", params={"period": current})
            return got.status_code == 200 and got.json()["eligible"] is True

        await eventually(eligible, "incentives sees the certified cadre as eligible")
        ok(await calc.post(f"/periods/{current}/calculate"))
    async with p.client("incentives", "approver") as approver:
        ok(await approver.post(f"/periods/{current}/approve"))


async def _notifications_resources(p: Platform) -> None:
    r = p.res
    r["subscription_body"] = {
        "url": "https://sim.puskesmas-a.example/hooks/sikader",
        "secret": "a-long-shared-secret-0123456789",
        "event_types": ["CadreCertified", "CertificateRevoked"],
        "kecamatan_codes": [KECAMATAN],
    }
    async with p.client("notifications", "scope:notifications:subscribe") as s:
        r["subscription"] = ok(await s.post("/subscriptions", json=r["subscription_body"]), 201)["id"]
        r["subscription_delete"] = ok(await s.post("/subscriptions", json=r["subscription_body"]), 201)["id"]
    r["broadcast_body"] = {
        "title": "Pengumuman kader",
        "message": "Pertemuan kader Posyandu hari Sabtu di balai kelurahan.",
        "channels": ["email"],
        "kecamatan_codes": [KECAMATAN],
    }
    async with p.client("notifications", "scope:notifications:broadcast") as b:
        r["broadcast"] = ok(await b.post("/broadcasts", json=r["broadcast_body"]), 201)["id"]
    config = NotificationsConfig.from_settings(p.settings["notifications"])
    r["unsubscribe_token"] = config.unsubscribe_url(r["cadre"], "email").rsplit("/", 1)[1]


async def audit_rows(svc: InProcessService, *where: Any) -> list[dict[str, Any]]:
    """Audit rows straight from the service's database, oldest first."""
    async with svc.runtime.sessions() as session:
        rows = (await session.execute(select(AuditRecord).where(*where).order_by(col(AuditRecord.id)))).scalars()
        return [r.model_dump() for r in rows]


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def platform() -> AsyncIterator[Platform]:
    broker = await asyncio.to_thread(start_test_broker)  # it runs its own loop
    urls = {name: service_database_url(name) for name in SERVICES}
    services: dict[str, InProcessService] = {}
    try:
        settings = await _start(broker, urls, services)
        p = Platform(broker, services, settings=settings)
        await _issue_keys(p)
        await revoke_with_cli(p, "victim")
        await _registry_resources(p)
        await _certification_resources(p)
        await asyncio.gather(_incentives_resources(p), _notifications_resources(p))
        for name, svc in services.items():
            p.audit_at_start[name] = await audit_rows(svc)
        yield p
    finally:
        for svc in reversed(list(services.values())):
            await svc.stop()
        for url in urls.values():
            drop_database(url)
        await asyncio.to_thread(broker.close)
