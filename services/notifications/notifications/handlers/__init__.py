"""The notifications handlers, one module per aggregate: projections (the registry's state),
messages (a public event kept and its deliveries planned), subscriptions, broadcasts,
deliveries (one attempt) and consent. `event_handlers` gathers the modules' event tables
into the one the consumer runs: a registry event is projected first, then planned."""

from __future__ import annotations

from notifications.config import NotificationsConfig
from notifications.handlers import messages, projections
from sikader_shared.events import Event
from sikader_shared.inbox import Handler


def event_handlers(config: NotificationsConfig) -> dict[type[Event], Handler]:
    """The public events' batch handler projects a registry event before planning it; the
    projections alone for the rest (the private topic's contact details)."""
    return {**projections.EVENT_HANDLERS, **messages.event_handlers(config)}
