"""Composition root of the incentives service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from incentives.settings import IncentivesSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: IncentivesSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="incentives",
        title="sikader incentives",
        description="Incentive policy, eligibility, monthly periods, approval and payment.",
        settings=settings or IncentivesSettings(),
        service_dir=SERVICE_DIR,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
