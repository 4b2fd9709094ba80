"""The event-handler table the registry's consumer runs: the registry is the source of its
events and handles none of another service (the runtime adds the shared API-key handlers)."""

from registry.handlers import event_handlers

__all__ = ["event_handlers"]
