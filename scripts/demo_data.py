"""Demo data for Balikpapan, loaded through the public APIs on the first `make run`.

Deterministic (seeded): Posyandu in all 34 kelurahan with a realistic mix of facility
situations (many in residents' houses), some verified and some rejected; about 300 cadres
with valid NIKs; some trained, assessed and certified at each level; the current month
(WITA) calculated. Each service's loader lives beside its code (`<service>/demo.py`)."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import httpx

from certification.entrypoints.demo import load_demo as certification_demo
from incentives.entrypoints.demo import load_demo as incentives_demo
from registry.entrypoints.demo import load_demo as registry_demo
from sikader_shared.clock import WITA


async def load_demo_data(urls: dict[str, str], admin_key: str) -> dict[str, Any]:
    """Load the demo data; returns a summary of what was loaded."""
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {admin_key}"}

    def client(service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=urls[service], headers=headers, timeout=300)

    async with client("registry") as c:
        registry = await registry_demo(c)
    async with client("certification") as c:
        certification = await certification_demo(c, registry["active_cadre_ids"])
    period = datetime.now(WITA).strftime("%Y-%m")
    async with client("incentives") as c:
        incentives = await incentives_demo(c, admin_key, period)
    return {
        "posyandu": len(registry["posyandu_ids"]),
        "posyandu_verified": len(registry["verified_posyandu_ids"]),
        "cadres": len(registry["cadre_ids"]),
        "trained": certification.get("trained"),
        "certified": certification.get("certified"),
        "period": period,
        "period_decision_hash": incentives.get("decision_hash"),
        "seconds": round(time.monotonic() - started, 1),
    }
