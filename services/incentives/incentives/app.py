"""Composition root of the incentives service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from incentives.entrypoints.api import router
from incentives.entrypoints.consumers import event_handlers
from incentives.entrypoints.jobs import projector
from incentives.settings import IncentivesSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: IncentivesSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or IncentivesSettings()
    return ServiceDefinition(
        name="incentives",
        title="sikader incentives",
        description="Incentive policy versions, explainable eligibility, monthly periods (calculate, approve, "
        "pay, close), payment files and bank results, fairness report.",
        settings=settings,
        service_dir=SERVICE_DIR,
        routers=[router],
        event_handlers=event_handlers(settings),
        background_jobs=[projector],
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
