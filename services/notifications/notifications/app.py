"""The one wiring point of the notifications service: settings -> config -> ServiceDefinition
(routes, the consumer's handler table, the delivery worker)."""

from pathlib import Path

from fastapi import FastAPI

from notifications.config import NotificationsConfig
from notifications.entrypoints.consumers import event_handlers
from notifications.entrypoints.jobs import JOBS
from notifications.entrypoints.routes import ROUTERS
from notifications.settings import NotificationsSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: NotificationsSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or NotificationsSettings()
    config = NotificationsConfig.from_settings(settings)
    return ServiceDefinition(
        name="notifications",
        title="sikader notifications",
        description="Templates, channels (email, signed webhooks, SMS / WhatsApp gateway), outside "
        "subscriptions, deliveries with retries, consent and broadcasts.",
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
