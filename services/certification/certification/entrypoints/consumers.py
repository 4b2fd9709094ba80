"""The event-handler table the certification consumer runs: the registry's cadre events,
applied to the local projection (the runtime adds the shared API-key handlers)."""

from __future__ import annotations

from certification.config import CertificationConfig
from certification.handlers import EVENT_HANDLERS
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler


def event_handlers(config: CertificationConfig) -> dict[type[Event], Handler]:
    """The table for this config (none of the projection's handlers needs it yet)."""
    return dict(EVENT_HANDLERS)
