"""Event type -> handler, as the consumer runs it. Every public event is kept (for
re-delivery) and routed; contact details come only from the private topic."""

from notifications.handlers import event_handlers

__all__ = ["event_handlers"]
