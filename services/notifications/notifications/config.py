"""Everything the handlers and the worker need, built once from the settings."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from notifications.domain.rules import OpdInbox, Rule, load_rules
from notifications.domain.schedule import QuietHours
from notifications.domain.signing import unsubscribe_token
from notifications.domain.templates import Templates
from notifications.settings import NotificationsSettings
from sikader_shared.crypto import FieldCipher, FieldCipherError


@dataclass
class NotificationConfig:
    settings: NotificationsSettings

    @cached_property
    def rules(self) -> list[Rule]:
        return load_rules(self.settings.rules_file or None)

    @cached_property
    def templates(self) -> Templates:
        return Templates(self.settings.templates_dir or None)

    @cached_property
    def quiet_hours(self) -> QuietHours:
        return QuietHours.parse(self.settings.quiet_hours_start, self.settings.quiet_hours_end)

    @property
    def inboxes(self) -> list[OpdInbox]:
        return list(self.settings.opd_inboxes)

    @cached_property
    def cipher(self) -> FieldCipher | None:
        try:
            return FieldCipher(self.settings.contact_key)
        except FieldCipherError:
            return None  # no contact key: cadre messages wait (and finally fail) without an address

    @cached_property
    def unsubscribe_secret(self) -> bytes:
        secret = self.settings.unsubscribe_secret or f"unsubscribe:{self.settings.contact_key}"
        return hashlib.sha256(secret.encode("utf-8")).digest()

    def unsubscribe_url(self, cadre_id: str, channel: str) -> str:
        token = unsubscribe_token(self.unsubscribe_secret, cadre_id, channel)
        return f"{self.settings.public_base_url.rstrip('/')}/unsubscribe/{token}"
