"""Kader: the cadre's page as sections (each may be refused on its own by the key's scopes),
eligibility reasons in the reader's language, and the import's progress."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

CERTIFICATE_NUMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/_-]{0,99}$")


@dataclass(frozen=True)
class Section:
    """One part of a page from one service: its data, or why it could not be shown."""

    data: Any = None
    problem: str = ""  # already in the reader's words


@dataclass(frozen=True)
class Reason:
    rule: str
    passed: bool
    text: str


def reasons(eligibility: dict[str, Any], lang: str) -> list[Reason]:
    key = "text_en" if lang == "en" else "text_id"
    return [
        Reason(
            str(r.get("rule", "")), bool(r.get("passed")), str(r.get(key) or r.get("text_id") or r.get("fact") or "")
        )
        for r in eligibility.get("reasons", [])
        if isinstance(r, dict)
    ]


def valid_certificate_number(number: str) -> bool:
    return bool(CERTIFICATE_NUMBER.fullmatch(number)) and ".." not in number and "//" not in number


@dataclass(frozen=True)
class ImportProgress:
    job_id: str
    kind: str
    status: str
    rows_total: int
    rows_done: int
    percent: float
    report: dict[str, Any] | None
    reason: str | None
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


def import_progress(job: dict[str, Any]) -> ImportProgress:
    report = job.get("report") if isinstance(job.get("report"), dict) else None
    percent = float(job.get("percent") or 0.0)
    return ImportProgress(
        job_id=str(job.get("id", "")),
        kind=str(job.get("kind", "")),
        status=str(job.get("status", "queued")),
        rows_total=int(job.get("rows_total") or 0),
        rows_done=int(job.get("rows_done") or 0),
        percent=max(0.0, min(100.0, round(percent, 1))),
        report=report,
        reason=job.get("reason"),
        errors=list((report or {}).get("errors") or []),
    )


def progress_json(p: ImportProgress) -> dict[str, Any]:
    """What the page's script polls: enough to move the bar and know when to reload."""
    return {
        "status": p.status,
        "rows_total": p.rows_total,
        "rows_done": p.rows_done,
        "percent": p.percent,
        "finished": p.finished,
    }
