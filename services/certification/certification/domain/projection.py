"""Rules of the local cadre projection built from the registry's events."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

StatusChange = Literal["deactivated", "reactivated"]


def is_newer(stored_at: datetime | None, event_at: datetime) -> bool:
    """Apply an event only if it is not older than what was applied for the same facet: a
    re-published older event may arrive after a newer one."""
    return stored_at is None or event_at >= stored_at


def status_change(old: str | None, new: str) -> StatusChange | None:
    """Certificates follow their holder: suspended on deactivation, restored on reactivation.
    A first sighting (old is None) changes no certificate."""
    if old == "active" and new == "inactive":
        return "deactivated"
    if old == "inactive" and new == "active":
        return "reactivated"
    return None
