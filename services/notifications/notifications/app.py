"""Composition root of the notifications service: settings -> runtime (DB, outbox, consumer) -> routes."""

from pathlib import Path

from fastapi import FastAPI

from notifications.settings import NotificationsSettings
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.service import ServiceDefinition, create_service_app

SERVICE_DIR = Path(__file__).resolve().parent.parent


def definition(settings: NotificationsSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="notifications",
        title="sikader notifications",
        description="Templates, channels, outside subscriptions, deliveries and broadcasts.",
        settings=settings or NotificationsSettings(),
        service_dir=SERVICE_DIR,
        clock=clock or SystemClock(),
    )


def create_app() -> FastAPI:
    return create_service_app(definition())
