"""The event-handler table the registry's consumer runs: the registry is the source of its
events and handles none of another service (the runtime adds the shared API-key handlers)."""

from __future__ import annotations

from registry.config import RegistryConfig
from registry.handlers import EVENT_HANDLERS
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler


def event_handlers(config: RegistryConfig) -> dict[type[Event], Handler]:
    """The table for this config (none of the registry's handlers needs it yet)."""
    return dict(EVENT_HANDLERS)
