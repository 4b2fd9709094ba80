"""Siaran: a composed broadcast checked before preview and send, and its progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNELS = ("whatsapp", "sms", "email")
ROLES = ("posyandu_cadre", "pkk", "child_protection", "social_worker", "ketua")


@dataclass(frozen=True)
class Draft:
    title: str
    message: str
    channels: list[str]
    kecamatan_codes: list[str] = field(default_factory=list)
    kelurahan_codes: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """POST /broadcasts at notifications."""
        return {
            "title": self.title,
            "message": self.message,
            "channels": self.channels,
            "kecamatan_codes": self.kecamatan_codes,
            "kelurahan_codes": self.kelurahan_codes,
            "roles": self.roles,
        }


def draft_problems(d: Draft) -> list[str]:
    """Text keys of what the form still needs (notifications checks again)."""
    problems = []
    if not d.title.strip():
        problems.append("need_title")
    if not d.message.strip():
        problems.append("need_message")
    if not d.channels or any(c not in CHANNELS for c in d.channels):
        problems.append("need_channel")
    return problems


def area_filters(d: Draft) -> list[dict[str, str]]:
    """The registry searches that count the addressed cadres: one per kelurahan, else one per
    kecamatan, else the whole city (a kelurahan chosen inside a chosen kecamatan is counted once)."""
    if d.kelurahan_codes:
        inside = [k for k in d.kecamatan_codes if not any(kel.startswith(k + ".") for kel in d.kelurahan_codes)]
        return [{"kelurahan_code": k} for k in d.kelurahan_codes] + [{"kecamatan_code": k} for k in inside]
    if d.kecamatan_codes:
        return [{"kecamatan_code": k} for k in d.kecamatan_codes]
    return [{}]


@dataclass(frozen=True)
class BroadcastView:
    broadcast: dict[str, Any]
    finished: bool
    done: int
    total: int
    percent: float


def broadcast_view(b: dict[str, Any]) -> BroadcastView:
    progress = {k: int(v) for k, v in (b.get("progress") or {}).items()}
    total = sum(progress.values())
    done = total - progress.get("pending", 0)
    percent = round(100.0 * done / total, 1) if total else (100.0 if b.get("status") == "completed" else 0.0)
    return BroadcastView(b, b.get("status") == "completed", done, total, percent)


def broadcast_json(v: BroadcastView) -> dict[str, Any]:
    return {
        "status": v.broadcast.get("status"),
        "done": v.done,
        "total": v.total,
        "percent": v.percent,
        "finished": v.finished,
        "progress": v.broadcast.get("progress") or {},
    }
