"""The event-handler table the consumer runs (thin): each batch of subscribed input events is
applied in the consumer's own transaction (projections, then the decisions of the cadres
concerned)."""

from incentives.handlers import event_handlers

__all__ = ["event_handlers"]
