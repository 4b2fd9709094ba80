"""One module per aggregate: commands and events -> domain -> unit of work.

- `inputs`: the input events (registry and certification facts, payment details) and the
  live decisions they cause; the only module with an event-handler table.
- `policies`, `periods`, `payments`: the commands of the API.
- `eligibility`, `reviews`: what the API reads."""

from __future__ import annotations

from typing import Any

from incentives.config import IncentivesConfig
from incentives.handlers import inputs
from sikader_shared.events.base import Event


def event_handlers(config: IncentivesConfig) -> dict[type[Event], Any]:
    """EVENT_HANDLERS of the service, gathered from the modules (built from the config: the
    input events need the payment cipher)."""
    return {**inputs.event_handlers(config)}
