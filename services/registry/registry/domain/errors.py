"""Refusals raised by pure domain code. The service layer turns them into HTTP 4xx."""

from __future__ import annotations

from typing import Any


class FieldError(ValueError):
    """An input value breaks a rule; `field` names the field (e.g. "nik")."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class RuleViolation(ValueError):
    """A command that the aggregate's current state does not allow (-> 409); `details` go
    into the answer beside the message."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details
