"""Composition root of the registry service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from registry.settings import RegistrySettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: RegistrySettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="registry",
        title="sikader registry",
        description="Wilayah, Posyandu (institution, facility, verification) and the cadre register.",
        settings=settings or RegistrySettings(),
        service_dir=SERVICE_DIR,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
