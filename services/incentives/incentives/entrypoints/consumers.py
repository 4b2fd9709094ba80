"""Input events -> handlers (thin): every subscribed event is staged for the projector."""

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
