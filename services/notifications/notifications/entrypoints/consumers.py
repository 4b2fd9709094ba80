"""Event type -> handler, as the consumer runs it. Every public event is kept (for
re-delivery) and routed; contact details come only from the private topic."""

from __future__ import annotations

from notifications import handlers
from notifications.config import NotificationsConfig
from sikader_shared.events import Event
from sikader_shared.inbox import Handler


def event_handlers(config: NotificationsConfig) -> dict[type[Event], Handler]:
    return handlers.event_handlers(config)
