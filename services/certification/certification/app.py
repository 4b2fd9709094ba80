"""The one wiring point of the certification service: settings -> config -> ServiceDefinition
(routes, the consumer's event handlers, the expiry scheduler)."""

from pathlib import Path

from fastapi import FastAPI

from certification.config import CertificationConfig
from certification.entrypoints.consumers import event_handlers
from certification.entrypoints.jobs import JOBS
from certification.entrypoints.routes import ROUTERS
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
        config=config,
        routers=ROUTERS,
        event_handlers=event_handlers(config),
        background_jobs=JOBS,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
