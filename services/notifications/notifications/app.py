"""Composition root of the notifications service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from notifications.config import NotificationConfig
from notifications.delivery import delivery_worker
from notifications.entrypoints.api import build_router
from notifications.entrypoints.consumers import event_handlers
from notifications.settings import NotificationsSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: NotificationsSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    settings = settings or NotificationsSettings()
    config = NotificationConfig(settings)
    return ServiceDefinition(
        name="notifications",
        title="sikader notifications",
        description="Templates, channels (email, signed webhooks, SMS / WhatsApp gateway), outside "
        "subscriptions, deliveries with retries, consent and broadcasts.",
        settings=settings,
        service_dir=SERVICE_DIR,
        routers=[build_router(config)],
        event_handlers=event_handlers(config),
        background_jobs=[delivery_worker],
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
