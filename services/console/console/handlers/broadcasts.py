"""Siaran: compose (preview with an estimate of the cadres addressed), send, follow."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from console.adapters.services import Caller, ServiceClient
from console.domain.broadcasts import BroadcastView, Draft, area_filters, broadcast_view
from console.handlers.common import body_of, items_of


@dataclass(frozen=True)
class Areas:
    kecamatan: list[dict[str, Any]]
    kelurahan: list[dict[str, Any]]


async def areas(client: ServiceClient, caller: Caller) -> Areas:
    kec, kel = await asyncio.gather(
        client.get(caller, "registry", "/wilayah/kecamatan"), client.get(caller, "registry", "/wilayah/kelurahan")
    )
    return Areas(items_of(kec.body) if kec.ok else [], items_of(kel.body) if kel.ok else [])


async def estimate(client: ServiceClient, caller: Caller, d: Draft) -> int | None:
    """Active cadres the broadcast addresses, as the registry counts them (None when the key
    cannot search cadres). With several roles a cadre holding two is counted twice: an estimate."""
    searches = [
        {**area, "status": "active", **({"role": role} if role else {})}
        for area in area_filters(d)
        for role in (d.roles or [""])
    ]
    answers = await asyncio.gather(*(client.get(caller, "registry", "/cadres", limit=1, **s) for s in searches))
    if not all(a.ok for a in answers):
        return None
    return sum(int(a.body.get("total", 0)) for a in answers if isinstance(a.body, dict))


async def send(client: ServiceClient, caller: Caller, d: Draft) -> str:
    return str(body_of(await client.post(caller, "notifications", "/broadcasts", d.body()))["id"])


async def broadcast(client: ServiceClient, caller: Caller, broadcast_id: str) -> BroadcastView:
    return broadcast_view(body_of(await client.get(caller, "notifications", f"/broadcasts/{broadcast_id}")))


async def sent(client: ServiceClient, caller: Caller) -> list[BroadcastView]:
    answer = await client.get(caller, "notifications", "/broadcasts", limit=50)
    return [broadcast_view(b) for b in items_of(answer.body)] if answer.ok else []
