"""Composition root of the certification service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from certification.settings import CertificationSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: CertificationSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="certification",
        title="sikader certification",
        description="Skill catalogue, trainings, skill assessments, levels and certificates.",
        settings=settings or CertificationSettings(),
        service_dir=SERVICE_DIR,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
