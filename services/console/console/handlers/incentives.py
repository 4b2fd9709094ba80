"""Insentif: periods, one period (totals, fairness, decisions, changes), one cadre's amount
explained, and the actions: calculate, approve, payment file, bank results, close."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from console.adapters.services import Caller, ServiceClient
from console.domain.cadres import Section
from console.domain.incentives import FairnessChart, fairness_chart
from console.handlers.cadres import section
from console.handlers.common import Refused, body_of, items_of

DECISIONS_PAGE = 50


async def periods(client: ServiceClient, caller: Caller) -> list[dict[str, Any]]:
    return items_of(body_of(await client.get(caller, "incentives", "/periods", limit=24)))


@dataclass(frozen=True)
class PeriodPage:
    period: dict[str, Any]
    fairness: Section
    chart: FairnessChart | None
    decisions: Section
    changes: Section
    batches: Section


async def kelurahan_names(client: ServiceClient, caller: Caller) -> dict[str, str]:
    """Names for the codes incentives answers with (a key without registry:read sees codes)."""
    answer = await client.get(caller, "registry", "/wilayah/kelurahan")
    return {k["code"]: k["name"] for k in items_of(answer.body)} if answer.ok else {}


async def period_page(client: ServiceClient, caller: Caller, period: str, after: str | None, lang: str) -> PeriodPage:
    state = body_of(await client.get(caller, "incentives", f"/periods/{period}"))
    calculated = state.get("calculation_count", 0) > 0
    if not calculated:
        empty = Section(problem="")
        return PeriodPage(state, empty, None, empty, empty, empty)
    fairness, decisions, changes, batches, names = await asyncio.gather(
        section(client.get(caller, "incentives", f"/periods/{period}/fairness"), lang),
        section(
            client.get(caller, "incentives", f"/periods/{period}/decisions", limit=DECISIONS_PAGE, after=after), lang
        ),
        section(client.get(caller, "incentives", f"/periods/{period}/changes", limit=50), lang),
        section(client.get(caller, "incentives", f"/periods/{period}/payment-batches"), lang),
        kelurahan_names(client, caller),
    )
    chart = fairness_chart(fairness.data, names) if isinstance(fairness.data, dict) else None
    return PeriodPage(state, fairness, chart, decisions, changes, batches)


async def explanation(client: ServiceClient, caller: Caller, period: str, cadre_id: str) -> dict[str, Any]:
    body: dict[str, Any] = body_of(await client.get(caller, "incentives", f"/periods/{period}/decisions/{cadre_id}"))
    return body


async def act(client: ServiceClient, caller: Caller, period: str, action: str, decision_hash: str) -> dict[str, Any]:
    """One of the period's actions, as the person's key may do it (the service decides)."""
    paths = {
        "calculate": f"/periods/{period}/calculate",
        "approve": f"/periods/{period}/approve",
        "pay": f"/periods/{period}/payment-batches",
        "close": f"/periods/{period}/close",
    }
    if action not in paths:
        raise Refused(422, "unknown action")
    body = {"decision_hash": decision_hash} if action == "approve" and decision_hash else None
    result: dict[str, Any] = body_of(await client.post(caller, "incentives", paths[action], body))
    return result


async def payment_file(client: ServiceClient, caller: Caller, period: str, batch_id: str) -> tuple[bytes, str]:
    answer = await client.get(caller, "incentives", f"/periods/{period}/payment-batches/{batch_id}/file")
    if not answer.ok:
        raise Refused(answer.status, answer.detail)
    return answer.content, answer.headers.get("content-disposition", f'attachment; filename="{batch_id}.csv"')


async def bank_results(
    client: ServiceClient, caller: Caller, period: str, batch_id: str, content: bytes
) -> dict[str, Any]:
    path = f"/periods/{period}/payment-batches/{batch_id}/results"
    answer = await client.call(
        caller, "incentives", "POST", path, content=content, headers={"Content-Type": "text/csv"}
    )
    result: dict[str, Any] = body_of(answer)
    return result
