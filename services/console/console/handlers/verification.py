"""Verifikasi: the queue with each Posyandu's assessment history, and the decisions."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from console.adapters.services import Caller, ServiceClient
from console.domain.verification import QueueCard, decision_problem, queue_card
from console.handlers.common import Refused, body_of, items_of

PAGE_SIZE = 10


@dataclass(frozen=True)
class QueuePage:
    cards: list[QueueCard]
    total: int
    next_cursor: str | None
    by_verification: dict[str, int]
    kelurahan_names: dict[str, str]


def next_cursor(link: str | None) -> str | None:
    """The cursor of the service's `Link: <...cursor=X...>; rel="next"`."""
    if not link or 'rel="next"' not in link:
        return None
    from urllib.parse import parse_qs, urlsplit

    url = link.split(";")[0].strip().strip("<>")
    values = parse_qs(urlsplit(url).query).get("cursor")
    return values[0] if values else None


async def queue(client: ServiceClient, caller: Caller, cursor: str | None, lang: str) -> QueuePage:
    answer, stats, kelurahan = await asyncio.gather(
        client.get(caller, "registry", "/posyandu/verification-queue", limit=PAGE_SIZE, cursor=cursor),
        client.get(caller, "registry", "/statistics/mapping"),
        client.get(caller, "registry", "/wilayah/kelurahan"),
    )
    body = body_of(answer)
    items = items_of(body)
    # Each item carries the Posyandu's assessments (read by the registry for the whole page).
    cards = [queue_card(item, items_of(item.get("assessments")), lang) for item in items]
    by_verification = body_of(stats).get("by_verification_status", {})
    total = int(body.get("total", len(items))) if isinstance(body, dict) else len(items)
    names = {k["code"]: k["name"] for k in items_of(kelurahan.body)} if kelurahan.ok else {}
    return QueuePage(cards, total, next_cursor(answer.headers.get("link")), by_verification, names)


async def decide(client: ServiceClient, caller: Caller, posyandu_id: str, decision: str, reason: str) -> dict[str, Any]:
    problem = decision_problem(decision, reason)
    if problem is not None:
        raise Refused(422, problem)
    body: dict[str, Any] = {"decision": decision}
    if reason.strip():
        body["reason" if decision != "VERIFIED" else "note"] = reason.strip()
    answer = await client.post(caller, "registry", f"/posyandu/{posyandu_id}/verification", body)
    result: dict[str, Any] = body_of(answer)
    return result
