"""Commands and events -> domain -> unit of work, one module per aggregate: the catalogue,
the cadre projection (and the reads about a cadre), trainings, assessments, certificates.

Commands (HTTP) run inside execute_write's unit of work; event handlers run inside the
consumer's unit of work and never commit. EVENT_HANDLERS gathers the modules' tables."""

from __future__ import annotations

from certification.config import CertificationConfig
from certification.handlers import projections
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler

EVENT_HANDLERS: dict[type[Event], Handler] = {**projections.EVENT_HANDLERS}


def event_handlers(config: CertificationConfig) -> dict[type[Event], Handler]:
    """The table the consumer runs (none of these handlers needs the config yet)."""
    return dict(EVENT_HANDLERS)
