"""The one wiring point of the incentives service: settings -> config -> ServiceDefinition
(routes, the consumer's event handlers, the projector)."""

from pathlib import Path

from fastapi import FastAPI

from incentives.config import IncentivesConfig
from incentives.entrypoints.consumers import event_handlers
from incentives.entrypoints.jobs import JOBS
from incentives.entrypoints.routes import ROUTERS
from incentives.settings import IncentivesSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: IncentivesSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or IncentivesSettings()
    config = IncentivesConfig.from_settings(settings)
    return ServiceDefinition(
        name="incentives",
        title="sikader incentives",
        description="Incentive policy versions, explainable eligibility, monthly periods (calculate, approve, "
        "pay, close), payment files and bank results, fairness report.",
        settings=settings,
        config=config,
        service_dir=SERVICE_DIR,
        routers=ROUTERS,
        event_handlers=event_handlers(config),
        background_jobs=JOBS,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
