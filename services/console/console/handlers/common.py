"""Shared by the use cases: refusals the page shows, and reading one answer."""

from __future__ import annotations

from typing import Any

from console.adapters.services import Answer


class Refused(Exception):
    """A service said no (4xx other than 401): the page shows its reason."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def body_of(answer: Answer) -> Any:
    if not answer.ok:
        raise Refused(answer.status, answer.detail)
    return answer.body


def items_of(body: Any) -> list[dict[str, Any]]:
    """A list answer: a bare array, or a page {items: [...]}."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and isinstance(body.get("items"), list):
        return list(body["items"])
    return []
