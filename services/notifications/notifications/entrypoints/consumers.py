"""Event type -> handler. Every public event is kept (for re-delivery) and routed; contact
details come only from the private topic."""

from __future__ import annotations

from notifications.config import NotificationConfig
from notifications.domain.subscriptions import SUBSCRIBABLE
from notifications.handlers import make_event_handler, on_contact_changed
from sikader_shared.events import EVENT_MODELS, CadreContactChanged, Event
from sikader_shared.inbox import Handler


def event_handlers(cfg: NotificationConfig) -> dict[type[Event], Handler]:
    on_event = make_event_handler(cfg)
    handlers: dict[type[Event], Handler] = {EVENT_MODELS[t]: on_event for t in SUBSCRIBABLE}
    handlers[CadreContactChanged] = on_contact_changed
    return handlers
