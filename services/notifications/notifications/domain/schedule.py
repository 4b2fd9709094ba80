"""Time rules of delivery: retry backoff with jitter, quiet hours for SMS / WhatsApp (in
WITA), and the pacing of broadcasts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sikader_shared.clock import WITA


def exponential_schedule(first_s: float = 30.0, factor: float = 2.0, retries: int = 10) -> list[float]:
    """30 s, 1 min, 2 min ... 4 h 16 min: about 8.5 hours of retries by default."""
    return [first_s * factor**i for i in range(retries)]


def retry_delay(attempts: int, schedule: Sequence[float], jitter: float, rand: float) -> float | None:
    """Seconds to wait after the `attempts`-th failed attempt, spread by +-`jitter` (a
    fraction) with `rand` in [0, 1); None when the schedule is used up (give up)."""
    if attempts < 1 or attempts > len(schedule):
        return None
    return max(0.0, schedule[attempts - 1] * (1.0 + jitter * (2.0 * rand - 1.0)))


@dataclass(frozen=True)
class QuietHours:
    """A nightly window (WITA) in which SMS and WhatsApp wait. start == end: no window."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def is_quiet(self, at: datetime) -> bool:
        if self.start == self.end:
            return False
        local = at.astimezone(WITA).time()
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """`at` itself outside the window, else the moment the window ends (as UTC)."""
        if not self.is_quiet(at):
            return at
        local = at.astimezone(WITA)
        opens = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if opens <= local:
            opens += timedelta(days=1)
        return opens.astimezone(at.tzinfo)


QUIET_CHANNELS = frozenset({"sms", "whatsapp"})


def broadcast_slot(start: datetime, index: int, rate_per_minute: int) -> datetime:
    """When the index-th message of a broadcast may go: `rate_per_minute` evenly spaced."""
    return start + timedelta(seconds=index * 60.0 / rate_per_minute)
