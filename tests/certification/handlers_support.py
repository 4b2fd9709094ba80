"""Helpers for certification's handler tests (tests/handlers/test_certification_*.py): the
config, registry events fed to the projection as the consumer would, and commands."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from certification.config import CertificationConfig
from certification.domain.catalogue import load_catalogue
from certification.domain.levels import load_level_policy
from certification.entrypoints.schemas import AssessmentCreate, SkillResult
from certification.handlers import EVENT_HANDLERS
from certification.handlers.assessments import record_assessment
from sikader_shared.envelope import Envelope, new_envelope
from sikader_shared.events import CadreDeactivated, CadreReactivated, CadreRegistered
from sikader_shared.events.base import Event
from sikader_shared.testing.handlers import START, HandlerHarness
from sikader_shared.uow import Actor

KELURAHAN, KECAMATAN = "64.71.02.1001", "64.71.02"
TODAY = date(2026, 3, 15)  # START in WITA
ASSESSOR = Actor(client_id="puskesmas-ki", scopes=frozenset({"certification:assess"}))
TRAINER = Actor(client_id="dinkes", scopes=frozenset({"certification:train"}))


@functools.cache
def config() -> CertificationConfig:
    return CertificationConfig(catalogue=load_catalogue(), policy=load_level_policy())


def registered(name: str = "Siti Aminah", status: str = "active") -> CadreRegistered:
    return CadreRegistered(
        cadre_id=str(uuid.uuid4()),
        kelurahan_code=KELURAHAN,
        kecamatan_code=KECAMATAN,
        name=name,
        roles=["posyandu_cadre"],
        status=status,
        posyandu_id=str(uuid.uuid4()),
        posyandu_role="core",
        registered_at=START,
    )


def deactivated(cadre_id: str) -> CadreDeactivated:
    return CadreDeactivated(
        cadre_id=cadre_id, kelurahan_code=KELURAHAN, kecamatan_code=KECAMATAN, reason="pindah", effective_on=TODAY
    )


def reactivated(cadre_id: str) -> CadreReactivated:
    return CadreReactivated(cadre_id=cadre_id, kelurahan_code=KELURAHAN, kecamatan_code=KECAMATAN, effective_on=TODAY)


async def consume(db: HandlerHarness, event: Event, minutes: int = 0) -> Envelope:
    """Apply a registry event as the consumer would; `minutes` after START (its ce_time)."""
    env = new_envelope(
        service="registry",
        ce_type=event.ce_type(),
        subject=event.aggregate_id(),
        time=START + timedelta(minutes=minutes),
        actor="dinsos",
    )
    async with db.uow(causation=env) as uow:
        await EVENT_HANDLERS[type(event)](uow, event, env)
        await uow.commit()
    return env


async def known_cadre(db: HandlerHarness, name: str = "Siti Aminah") -> str:
    event = registered(name)
    await consume(db, event)
    await db.new_events()
    return event.cadre_id


def passes(*groups: str, passed: bool = True) -> list[SkillResult]:
    return [SkillResult(skill_code=f"{g}.{i}", passed=passed) for g in groups for i in range(1, 6)]


async def assess(db: HandlerHarness, cadre_id: str, *groups: str, on: date = TODAY) -> Any:
    cmd = AssessmentCreate(
        cadre_id=cadre_id, assessor="Puskesmas Klandasan Ilir", assessed_on=on, results=passes(*groups)
    )
    async with db.uow(ASSESSOR) as uow:
        outcome = await record_assessment(uow, config(), cmd)
        await uow.commit()
    return outcome


def at(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)  # 10:00 WITA
