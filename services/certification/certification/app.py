"""Composition root of the certification service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from certification.config import CertificationConfig
from certification.entrypoints.api import build_router
from certification.entrypoints.consumers import EVENT_HANDLERS
from certification.entrypoints.jobs import expiry_scheduler
from certification.settings import CertificationSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: CertificationSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or CertificationSettings()
    config = CertificationConfig.from_settings(settings)
    return ServiceDefinition(
        name="certification",
        title="sikader certification",
        description="Skill catalogue, trainings, skill assessments, levels and certificates, "
        "with public certificate verification.",
        settings=settings,
        service_dir=SERVICE_DIR,
        routers=[build_router(config)],
        event_handlers=EVENT_HANDLERS,
        background_jobs=[expiry_scheduler(config, settings.expiry_sweep_interval_s)],
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
