"""The registry's one wiring point: settings -> config -> ServiceDefinition (routes, the
consumer's handler table, jobs)."""

from pathlib import Path

from fastapi import FastAPI

from registry.config import RegistryConfig
from registry.entrypoints.consumers import event_handlers
from registry.entrypoints.jobs import JOBS
from registry.entrypoints.routes import ROUTERS
from registry.settings import RegistrySettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: RegistrySettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or RegistrySettings()
    config = RegistryConfig.from_settings(settings)
    return ServiceDefinition(
        name="registry",
        title="sikader registry",
        description=(
            "Wilayah, Posyandu (institution, facility, verification) and the cadre register. "
            "NIK, contact and payment details are masked unless the key has `registry:pii` "
            "(every unmasked read is logged); they leave the service only encrypted, on "
            "sikader.registry.cadre-private.v1."
        ),
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
