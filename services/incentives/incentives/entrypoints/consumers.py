"""The event-handler table the consumer runs (thin): each batch of subscribed input events is
applied in the consumer's own transaction (projections, then the decisions of the cadres
concerned)."""

from __future__ import annotations

from typing import Any

from incentives import handlers
from incentives.config import IncentivesConfig
from sikader_shared.events.base import Event


def event_handlers(config: IncentivesConfig) -> dict[type[Event], Any]:
    return handlers.event_handlers(config)
