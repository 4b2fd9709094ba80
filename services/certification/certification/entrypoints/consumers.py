"""The event-handler table the certification consumer runs: the registry's cadre events,
applied to the local projection (the runtime adds the shared API-key handlers)."""

from certification.handlers import event_handlers

__all__ = ["event_handlers"]
