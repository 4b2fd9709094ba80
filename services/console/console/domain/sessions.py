"""Sessions: who is signed in, and when a session has expired."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Visitor:
    """The signed-in person as a page sees them (never their key)."""

    token_hash: str
    person: str
    client_id: str
    scopes: frozenset[str]
    csrf_token: str
    flash: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def can(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def expired(created_at: datetime, last_seen_at: datetime, now: datetime, idle: timedelta, absolute: timedelta) -> bool:
    return now - last_seen_at > idle or now - created_at > absolute


def person_name(whoami: dict[str, Any]) -> str:
    """The key's label names the person; a key issued without one shows its client."""
    return str(whoami.get("label") or "").strip() or str(whoami.get("client_id") or "?")


def safe_next(path: str | None, default: str = "/peta") -> str:
    """Only a path on this site (no scheme, no host, no //) is followed after a redirect."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path or "\n" in path:
        return default
    return path
