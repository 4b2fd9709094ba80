"""Kader: search, one cadre's page (registry, certification, incentives), certificate PDFs,
and the CSV import through the registry's asynchronous import API."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from console.adapters.services import Answer, Caller, ServiceClient, ServiceUnreachable
from console.domain.cadres import ImportProgress, Section, import_progress, valid_certificate_number
from console.domain.texts import text
from console.handlers.common import Refused, body_of, items_of
from console.handlers.verification import next_cursor

PAGE_SIZE = 25
SEARCH_FILTERS = ("name", "posyandu_id", "kelurahan_code", "status")


@dataclass(frozen=True)
class SearchPage:
    items: list[dict[str, Any]]
    total: int
    next_cursor: str | None
    masked: bool
    kelurahan: list[dict[str, Any]]
    posyandu: list[dict[str, Any]]  # of the chosen kelurahan (the Posyandu filter's choices)
    posyandu_names: dict[str, str]


async def search(client: ServiceClient, caller: Caller, filters: dict[str, str], cursor: str | None) -> SearchPage:
    params = {k: v for k, v in filters.items() if k in SEARCH_FILTERS and v}
    kel_code = params.get("kelurahan_code")
    found, kel = await asyncio.gather(
        client.get(caller, "registry", "/cadres", limit=PAGE_SIZE, cursor=cursor, **params),
        client.get(caller, "registry", "/wilayah/kelurahan"),
    )
    body = body_of(found)
    items = items_of(body)
    choices: list[dict[str, Any]] = []
    if kel_code:
        answer = await client.get(caller, "registry", "/posyandu", kelurahan_code=kel_code, limit=200)
        choices = items_of(body_of(answer))
    names = {p["id"]: p["name"] for p in choices}
    # The registry's list carries each cadre's Posyandu name: no call per Posyandu.
    names |= {i["posyandu_id"]: i["posyandu_name"] for i in items if i.get("posyandu_id") and i.get("posyandu_name")}
    return SearchPage(
        items=items,
        total=int(body.get("total", len(items))) if isinstance(body, dict) else len(items),
        next_cursor=next_cursor(found.headers.get("link")),
        masked=any(i.get("pii_masked") for i in items),
        kelurahan=items_of(body_of(kel)),
        posyandu=choices,
        posyandu_names=names,
    )


async def posyandu_names(client: ServiceClient, caller: Caller, ids: set[str]) -> dict[str, str]:
    answers = await asyncio.gather(*(client.get(caller, "registry", f"/posyandu/{i}") for i in sorted(ids)))
    return {a.body["id"]: a.body["name"] for a in answers if a.ok and isinstance(a.body, dict)}


async def section(call: Any, lang: str) -> Section:
    """One service's part of a page; a refusal or an absent service is said, not fatal."""
    try:
        answer: Answer = await call
    except ServiceUnreachable as exc:
        return Section(problem=text("service_unreachable", lang, service=exc.service))
    if answer.status == 403:
        return Section(problem=text("forbidden", lang, detail=answer.detail))
    if not answer.ok:
        return Section(problem=text("refused", lang, detail=answer.detail))
    return Section(answer.body)


@dataclass(frozen=True)
class CadrePage:
    cadre: dict[str, Any]
    assignments: Section
    certification: Section
    eligibility: Section
    posyandu_names: dict[str, str]
    kelurahan_name: str


async def cadre_page(client: ServiceClient, caller: Caller, cadre_id: str, period: str, lang: str) -> CadrePage:
    cadre = body_of(await client.get(caller, "registry", f"/cadres/{cadre_id}"))
    assignments, history, eligibility, kelurahan = await asyncio.gather(
        section(client.get(caller, "registry", f"/cadres/{cadre_id}/assignments", limit=200), lang),
        section(client.get(caller, "certification", f"/cadres/{cadre_id}/history"), lang),
        section(client.get(caller, "incentives", f"/eligibility/{cadre_id}", period=period), lang),
        client.get(caller, "registry", "/wilayah/kelurahan"),
    )
    code = str(cadre.get("kelurahan_code", ""))
    area = [k["name"] for k in items_of(kelurahan.body) if k.get("code") == code] if kelurahan.ok else []
    listed = items_of(assignments.data) if assignments.data is not None else []
    names = await posyandu_names(client, caller, {a["posyandu_id"] for a in listed if a.get("posyandu_id")})
    return CadrePage(
        cadre, Section(listed, assignments.problem), history, eligibility, names, area[0] if area else code
    )


async def certificate_pdf(client: ServiceClient, caller: Caller, number: str) -> tuple[bytes, str]:
    if not valid_certificate_number(number):
        raise Refused(404, "no such certificate")
    answer = await client.get(caller, "certification", f"/certificates/{number}.pdf")
    if not answer.ok:
        raise Refused(answer.status, answer.detail)
    return answer.content, answer.headers.get("content-disposition", "inline")


async def start_import(client: ServiceClient, caller: Caller, kind: str, content: bytes) -> str:
    if kind not in ("cadres", "posyandu"):
        raise Refused(422, "unknown kind of import")
    headers = {"Content-Type": "text/csv"}
    answer = await client.call(caller, "registry", "POST", f"/imports/{kind}", content=content, headers=headers)
    return str(body_of(answer)["id"])


async def import_job(client: ServiceClient, caller: Caller, job_id: str) -> ImportProgress:
    return import_progress(body_of(await client.get(caller, "registry", f"/imports/{job_id}")))


async def recent_imports(client: ServiceClient, caller: Caller) -> list[ImportProgress]:
    answer = await client.get(caller, "registry", "/imports", limit=10)
    return [import_progress(j) for j in items_of(answer.body)] if answer.ok else []
