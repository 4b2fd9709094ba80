"""Verifikasi: what the queue page says about each Posyandu, chiefly what is missing before
VERIFIED can succeed, in the reader's language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DECISIONS = ("VERIFIED", "REJECTED", "RETURNED")
NEEDS_REASON = ("REJECTED", "RETURNED")
# When the registry gives no list (an older answer), the one rule the page can see itself.
_NO_SK = {
    "code": "no_sk",
    "message_id": "belum ada SK pembentukan dari lurah",
    "message_en": "no founding decree (SK) from the lurah yet",
    "blocking": True,
}


@dataclass(frozen=True)
class Gap:
    code: str
    message: str
    blocking: bool


@dataclass(frozen=True)
class QueueCard:
    posyandu: dict[str, Any]
    assessment: dict[str, Any]
    assessment_count: int
    institution: dict[str, Any]
    gaps: list[Gap]
    history: list[dict[str, Any]]

    @property
    def ready(self) -> bool:
        """Nothing blocks a VERIFIED decision."""
        return not any(g.blocking for g in self.gaps)


def gaps(item: dict[str, Any], lang: str) -> list[Gap]:
    listed = item.get("missing")
    if listed is None:
        listed = [] if (item.get("institution") or {}).get("sk_number") else [_NO_SK]
    key = "message_en" if lang == "en" else "message_id"
    return [
        Gap(
            str(g.get("code", "")),
            str(g.get(key) or g.get("message_id") or g.get("code")),
            bool(g.get("blocking", True)),
        )
        for g in listed
        if isinstance(g, dict)
    ]


def queue_card(item: dict[str, Any], history: list[dict[str, Any]], lang: str) -> QueueCard:
    return QueueCard(
        posyandu=item.get("posyandu") or {},
        assessment=item.get("latest_assessment") or {},
        assessment_count=int(item.get("assessment_count") or len(history)),
        institution=item.get("institution") or {},
        gaps=gaps(item, lang),
        history=history,
    )


def decision_problem(decision: str, reason: str) -> str | None:
    """What is wrong with a decision before it is sent (the registry checks again)."""
    if decision not in DECISIONS:
        return "unknown decision"
    if decision in NEEDS_REASON and not reason.strip():
        return "reason_required"
    return None
