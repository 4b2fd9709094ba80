"""The outside system's webhook endpoint of the fault schedule: the notifications tests'
receiver (signature checked, can go away and come back on the same port), seen as arrivals
with their time, delivery id and CloudEvents attributes."""

from __future__ import annotations

from dataclasses import dataclass

from tests.notifications.support import HttpReceiver, whsec_of


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic()
    delivery_id: str
    ce_id: str
    ce_type: str
    subject: str
    verified: bool


class WebhookReceiver(HttpReceiver):
    def __init__(self, secret: str) -> None:
        # The subscription's secret is client-chosen (as before Standard Webhooks): both the
        # Standard Webhooks signature (its whsec_ form) and the deprecated one must verify.
        super().__init__(whsec_of(secret), path="/hooks/sikader", legacy_secret=secret)

    def arrivals(self) -> list[Arrival]:
        return [
            Arrival(
                r.at,
                r.headers.get("x-sikader-delivery", ""),
                r.headers.get("ce-id", ""),
                r.headers.get("ce-type", ""),
                r.headers.get("ce-subject", ""),
                bool(r.verified),
            )
            for r in self.snapshot()
        ]
