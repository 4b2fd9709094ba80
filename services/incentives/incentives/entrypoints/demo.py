"""Demo data hook: calculate one period through the public API (called by scripts/demo_data.py
after the registry and certification demo data, whose events reach incentives asynchronously)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


async def load_demo(client: httpx.AsyncClient, calculator_key: str, period: str) -> dict[str, Any]:
    """Calculates `period` (a key with incentives:calculate and incentives:read). The events of
    the other services' demo data may still be arriving: the period is recalculated (allowed
    until approval) until two calculations agree on the decision-set hash, for up to 30 s."""
    headers = {"Authorization": f"Bearer {calculator_key}"}
    previous: str | None = None
    result: dict[str, Any] = {}
    for _ in range(30):
        r = await client.post(f"/periods/{period}/calculate", headers=headers)
        r.raise_for_status()
        result = r.json()
        if result["decision_hash"] == previous and result["cadres_evaluated"] > 0:
            break
        previous = result["decision_hash"]
        await asyncio.sleep(1.0)
    totals = await client.get(f"/periods/{period}/totals", params={"by": "kecamatan"}, headers=headers)
    totals.raise_for_status()
    return {
        "period": period,
        "state": result.get("state"),
        "decision_hash": result.get("decision_hash"),
        "cadres_evaluated": result.get("cadres_evaluated"),
        "eligible_cadres": result.get("eligible_cadres"),
        "total_amount": result.get("total_amount"),
        "totals_by_kecamatan": totals.json(),
    }
