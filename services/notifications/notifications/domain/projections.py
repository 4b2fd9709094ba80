"""Rules of the registry projections: which version of a cadre or Posyandu wins, and who
heads a Posyandu."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sikader_shared.clock import utc
from sikader_shared.events import ManagementRole


def is_newer(stored: datetime | None, incoming: datetime) -> bool:
    """A re-published older event must not overwrite a newer state."""
    return stored is None or utc(incoming) >= utc(stored)


def head_of(management: Iterable[ManagementRole]) -> str | None:
    """The cadre who is 'ketua' in a Posyandu's management, if one is named."""
    return next((m.cadre_id for m in management if m.role == "ketua" and m.cadre_id), None)
