"""What the handlers, routes and the delivery worker need, loaded once from the settings when
the service is wired (app.py): rules, templates, quiet hours, the contact cipher, the
unsubscribe signing secret."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends

from notifications.domain.rules import OpdInbox, Rule, load_rules
from notifications.domain.schedule import QuietHours
from notifications.domain.signing import unsubscribe_token
from notifications.domain.templates import Templates
from notifications.settings import NotificationsSettings
from sikader_shared.crypto import FieldCipher, load_cipher
from sikader_shared.deps import get_config


class Wakeup:
    """Deliveries just planned wake the delivery worker before its next poll."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        """Whether woken within `timeout` (and ready for the next wake)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        woken = self._event.is_set()
        self._event.clear()
        return woken


@dataclass(frozen=True)
class NotificationsConfig:
    settings: NotificationsSettings
    rules: list[Rule]
    templates: Templates
    quiet_hours: QuietHours
    inboxes: list[OpdInbox]
    # None without a contact key: messages to cadres wait (and finally fail) without an address.
    cipher: FieldCipher | None
    unsubscribe_secret: bytes
    wakeup: Wakeup = field(default_factory=Wakeup)

    @classmethod
    def from_settings(cls, settings: NotificationsSettings) -> NotificationsConfig:
        secret = settings.unsubscribe_secret or f"unsubscribe:{settings.contact_key}"
        return cls(
            settings=settings,
            rules=load_rules(settings.rules_file or None),
            templates=Templates(settings.templates_dir or None),
            quiet_hours=QuietHours.parse(settings.quiet_hours_start, settings.quiet_hours_end),
            inboxes=list(settings.opd_inboxes),
            cipher=load_cipher("contact", settings.contact_key),
            unsubscribe_secret=hashlib.sha256(secret.encode("utf-8")).digest(),
        )

    def unsubscribe_url(self, cadre_id: str, channel: str) -> str:
        token = unsubscribe_token(self.unsubscribe_secret, cadre_id, channel)
        return f"{self.settings.public_base_url.rstrip('/')}/unsubscribe/{token}"


ConfigDep = Annotated[NotificationsConfig, Depends(get_config)]
