"""Input events -> handlers (thin): each batch of subscribed events is applied in the consumer's
own transaction (projections, then the decisions of the cadres concerned)."""

from __future__ import annotations

from functools import cache
from typing import Any

from incentives import handlers
from incentives.settings import IncentivesSettings
from sikader_shared.crypto import FieldCipher
from sikader_shared.events.base import Event


def event_handlers(settings: IncentivesSettings) -> dict[type[Event], Any]:
    @cache
    def cipher() -> FieldCipher:
        return FieldCipher(settings.payment_key)

    return handlers.make_event_handlers(cipher)
