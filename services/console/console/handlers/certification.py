"""Sertifikasi: statistics, expiring certificates, trainings and their attendance,
assessments and revocations, each as the person's key may do it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from console.adapters.services import Caller, ServiceClient
from console.domain.cadres import Section
from console.domain.certification import CertifiedChart, certified_chart, skill_codes
from console.handlers.cadres import section
from console.handlers.common import Refused, body_of, items_of


@dataclass(frozen=True)
class CertificationPage:
    chart: CertifiedChart | None
    statistics: Section
    expiring_counts: Section
    expiring: Section
    trainings: Section
    names: dict[str, str]


async def area_names(client: ServiceClient, caller: Caller) -> dict[str, str]:
    kec, kel = await asyncio.gather(
        client.get(caller, "registry", "/wilayah/kecamatan"), client.get(caller, "registry", "/wilayah/kelurahan")
    )
    return {a["code"]: a["name"] for answer in (kec, kel) if answer.ok for a in items_of(answer.body)}


async def overview(client: ServiceClient, caller: Caller, within: int, lang: str) -> CertificationPage:
    stats, counts, expiring, trainings, names = await asyncio.gather(
        section(client.get(caller, "certification", "/statistics/certified"), lang),
        section(client.get(caller, "certification", "/statistics/expiring"), lang),
        section(client.get(caller, "certification", "/certificates/expiring", within_days=within, limit=100), lang),
        section(client.get(caller, "certification", "/trainings", limit=20), lang),
        area_names(client, caller),
    )
    chart = certified_chart(stats.data, names) if isinstance(stats.data, dict) else None
    return CertificationPage(chart, stats, counts, expiring, trainings, names)


@dataclass(frozen=True)
class TrainingPage:
    training: dict[str, Any]
    names: dict[str, str]


async def training(client: ServiceClient, caller: Caller, training_id: str) -> TrainingPage:
    body: dict[str, Any] = body_of(await client.get(caller, "certification", f"/trainings/{training_id}"))
    # The training carries its participants' names (certification's projection): no call each.
    names = {p["cadre_id"]: p["name"] for p in body.get("participants", []) if p.get("name")}
    return TrainingPage(body, names)


async def complete_training(client: ServiceClient, caller: Caller, training_id: str, attended: list[str]) -> None:
    body = {"attended": attended}
    body_of(await client.post(caller, "certification", f"/trainings/{training_id}/completion", body))


async def skills(client: ServiceClient, caller: Caller) -> list[dict[str, Any]]:
    return list(body_of(await client.get(caller, "certification", "/skills")).get("groups", []))


async def assess(
    client: ServiceClient, caller: Caller, cadre_id: str, assessor: str, on: str, passed: list[str]
) -> dict[str, Any]:
    """The ticked skills of the catalogue are reported passed (a skill not assessed is not
    reported: a fail would be recorded as an assessment)."""
    codes = sorted(skill_codes(await skills(client, caller)) & set(passed))
    if not codes:
        raise Refused(422, "tick at least one skill")
    try:
        date.fromisoformat(on)
    except ValueError:
        raise Refused(422, f"{on!r} is not a date (YYYY-MM-DD)") from None
    results = [{"skill_code": c, "passed": True} for c in codes]
    body = {"cadre_id": cadre_id.strip(), "assessor": assessor.strip(), "assessed_on": on, "results": results}
    result: dict[str, Any] = body_of(await client.post(caller, "certification", "/assessments", body))
    return result


async def revoke(client: ServiceClient, caller: Caller, certificate_id: str, reason: str) -> dict[str, Any]:
    answer = await client.post(caller, "certification", f"/certificates/{certificate_id}/revoke", {"reason": reason})
    result: dict[str, Any] = body_of(answer)
    return result
