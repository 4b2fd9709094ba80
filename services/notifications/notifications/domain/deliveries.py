"""Decisions about one delivery: the state a new message starts in, and what an attempt's
outcome makes of it (delivered, retried later, or given up)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from notifications.domain.schedule import QUIET_CHANNELS, QuietHours, retry_delay
from notifications.domain.signing import redact

CADRE_RECIPIENTS = ("cadre", "head_cadre")


@dataclass(frozen=True)
class Contact:
    """What the projection knows of a cadre's addresses (still encrypted)."""

    email_enc: str | None
    phone_enc: str | None

    def token_for(self, channel: str) -> str | None:
        return self.email_enc if channel == "email" else self.phone_enc


def missing_address(channel: str) -> str:
    return f"no {'email' if channel == 'email' else 'phone'} on record"


@dataclass(frozen=True)
class NewMessage:
    status: Literal["pending", "skipped"]
    reason: str | None
    first_attempt_at: datetime


def new_message(
    recipient_type: str,
    channel: str,
    opted_out: bool,
    contact: Contact | None,
    quiet_hours: QuietHours,
    now: datetime,
) -> NewMessage:
    """A new message is skipped when the cadre unsubscribed from the channel or has no
    address for it; SMS / WhatsApp wait for the end of quiet hours. (Contact details not
    received yet: the message waits for them.)"""
    if recipient_type in CADRE_RECIPIENTS:
        if opted_out:
            return NewMessage("skipped", "unsubscribed", now)
        if contact is not None and contact.token_for(channel) is None:
            return NewMessage("skipped", missing_address(channel), now)
    when = quiet_hours.next_allowed(now) if channel in QUIET_CHANNELS else now
    return NewMessage("pending", None, when)


@dataclass(frozen=True)
class Outcome:
    """What an attempt made of a delivery: `delivered`, `failed` (given up) or `retry`
    after `retry_in_s`. `reason` is redacted: it travels in events and logs."""

    status: Literal["delivered", "failed", "retry"]
    reason: str | None = None
    retry_in_s: float | None = None


def attempt_outcome(
    attempts: int, error: str | None, permanent: bool, schedule: Sequence[float], jitter: float, rand: float
) -> Outcome:
    if error is None:
        return Outcome("delivered")
    reason = redact(error)
    delay = None if permanent else retry_delay(attempts, schedule, jitter, rand)
    if delay is None:
        return Outcome("failed", reason)
    return Outcome("retry", reason, delay)
