"""The registry's handlers, one module per aggregate (Posyandu and its facility, cadres and their assignments,
the bulk imports and their asynchronous jobs):
load through the repository, ask the domain, store, emit, audit. EVENT_HANDLERS gathers the
modules' event-handler tables (the registry is the source of its events and consumes none
of its own; the shared API-key handlers are added by the runtime)."""

from __future__ import annotations

from registry.config import RegistryConfig
from registry.handlers import assignments, cadres, facility, import_jobs, imports, posyandu
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler

EVENT_HANDLERS: dict[type[Event], Handler] = {
    **posyandu.EVENT_HANDLERS,
    **facility.EVENT_HANDLERS,
    **cadres.EVENT_HANDLERS,
    **assignments.EVENT_HANDLERS,
    **imports.EVENT_HANDLERS,
    **import_jobs.EVENT_HANDLERS,
}

__all__ = [
    "EVENT_HANDLERS",
    "assignments",
    "cadres",
    "event_handlers",
    "facility",
    "import_jobs",
    "imports",
    "posyandu",
]


def event_handlers(config: RegistryConfig) -> dict[type[Event], Handler]:
    """The table the consumer runs (none of these handlers needs the config yet)."""
    return dict(EVENT_HANDLERS)
