"""Every list route of the registry pages the same way: `limit`, and the `Link: rel="next"`
header's URL (with its cursor) while there is more. Walking the pages gives every item
exactly once, in the order of the unpaged list; the body keeps its shape (an array, or the
page object of /posyandu and /cadres); the older `page` / `page_size` still work."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import pytest

from tests.registry.conftest import Registry, make_nik

pytestmark = pytest.mark.integration

CSV = {"Content-Type": "text/csv"}
FLOWERS = ["Melati", "Mawar", "Anggrek", "Kenanga", "Dahlia", "Cempaka", "Teratai"]
ASSESSMENT = {"facility_status": "none", "assessed_by": "Puskesmas", "assessed_on": "2026-11-02"}


Key = Callable[[dict[str, Any]], Any]


def field(*names: str) -> Key:
    """What tells the items of a list apart (histories have no id of their own)."""
    return lambda item: tuple(item[n] for n in names)


async def walk(client: httpx.AsyncClient, path: str, key: Key = field("id"), **params: Any) -> list[Any]:
    """The items of every page, following the Link header; each page's body has the shape
    of the unpaged answer."""
    seen: list[Any] = []
    response = await client.get(path, params=params)
    pages = 0
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        items = body["items"] if isinstance(body, dict) else body
        assert len(items) <= int(params.get("limit", params.get("page_size", 10**9)))
        seen.extend(key(item) for item in items)
        pages += 1
        link = response.headers.get("link")
        if link is None:
            break
        match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
        assert match, link
        response = await client.get(match.group(1))
    assert pages > 1, f"{path}: one page only; the test needs more items than the limit"
    assert len(seen) == len(set(seen)), f"{path}: an item served twice"
    return seen


async def everything(client: httpx.AsyncClient, path: str, key: Key = field("id"), **params: Any) -> list[Any]:
    response = await client.get(path, params=params)
    assert response.status_code == 200 and "link" not in response.headers
    body = response.json()
    return [key(item) for item in (body["items"] if isinstance(body, dict) else body)]


async def _fill(registry: Registry) -> tuple[list[str], list[str]]:
    """7 Posyandu in one kelurahan and 2 in another; 9 cadres at the first Posyandu."""
    rows = [f"Posyandu {f},64.71.06.1002,balita" for f in FLOWERS] + [
        "Posyandu Melati,64.71.01.1001,balita",
        "Posyandu Mawar,64.71.01.1001,lansia",
    ]
    async with registry.client("writer") as w:
        report = (
            await w.post(
                "/posyandu/import",
                content=("name,kelurahan_code,posyandu_type\n" + "\n".join(rows)).encode(),
                headers=CSV,
            )
        ).json()
        posyandu_ids = [x["posyandu_id"] for x in report["registered_ids"]]
        birth = date(1990, 8, 15)
        cadres = [
            f"{make_nik(birth, 'F', serial=i)},Kader {i % 4},P,1990-08-15,64.71.06.1002,{posyandu_ids[0]}"
            for i in range(1, 10)
        ]
        csv = "nik,name,sex,birth_date,kelurahan_code,posyandu_id\n" + "\n".join(cadres)
        report = (await w.post("/cadres/import", content=csv.encode(), headers=CSV)).json()
        assert report["registered"] == 9, report
    return posyandu_ids, [x["cadre_id"] for x in report["registered_ids"]]


async def test_every_list_route_walks_its_pages_through_the_link_header(registry: Registry) -> None:
    posyandu_ids, cadre_ids = await _fill(registry)
    melati = posyandu_ids[0]
    async with registry.client("writer") as w:
        for _ in range(3):
            assert (await w.post(f"/posyandu/{melati}/assessments", json=ASSESSMENT)).status_code == 201
        for target in (posyandu_ids[1], posyandu_ids[2], melati, posyandu_ids[1]):
            r = await w.post(f"/cadres/{cadre_ids[0]}/assignment", json={"posyandu_id": target})
            assert r.status_code == 200, r.text
    async with registry.client("verifier") as v:
        for n in range(3):
            r = await v.post(f"/posyandu/{melati}/verification", json={"decision": "REJECTED", "reason": f"no {n}"})
            assert r.status_code == 201, r.text

    async with registry.client("reader") as r:
        assignment = field("posyandu_id", "reason", "end_reason")
        for path, key, limit, params in [
            ("/posyandu", field("id"), 2, {}),
            ("/posyandu", field("id"), 2, {"kelurahan_code": "64.71.06.1002"}),
            ("/cadres", field("id"), 2, {}),
            ("/cadres", field("id"), 4, {"posyandu_id": melati, "name": "kader"}),
            (f"/posyandu/{melati}/assessments", field("id"), 2, {}),
            (f"/posyandu/{melati}/verifications", field("reason"), 2, {}),
            (f"/cadres/{cadre_ids[0]}/assignments", assignment, 2, {}),
        ]:
            assert await walk(r, path, key, limit=limit, **params) == await everything(r, path, key, **params), path
        assert len(await everything(r, f"/cadres/{cadre_ids[0]}/assignments", assignment)) == 5

        kelurahan = await walk(r, "/wilayah/kelurahan", field("code"), limit=5)
        assert len(kelurahan) == 34 and kelurahan == await everything(r, "/wilayah/kelurahan", field("code"))
        kecamatan = await walk(r, "/wilayah/kecamatan", field("code"), limit=4)
        assert kecamatan == await everything(r, "/wilayah/kecamatan", field("code"))
        assert await walk(r, "/wilayah/kelurahan", field("code"), limit=2, kecamatan="64.71.06") == await everything(
            r, "/wilayah/kelurahan", field("code"), kecamatan="64.71.06"
        )

        # The older page / page_size: the same rows, the same body, and a Link to the rest.
        older = await r.get("/cadres", params={"page": 2, "page_size": 3})
        body = older.json()
        assert (body["total"], body["page"], body["page_size"], len(body["items"])) == (9, 2, 3, 3)
        assert [(c["id"],) for c in body["items"]] == (await everything(r, "/cadres"))[3:6]
        assert "link" in older.headers
        assert (await r.get("/posyandu", params={"cursor": "not-a-cursor"})).status_code == 422
        assert (await r.get("/cadres", params={"limit": 201})).status_code == 422

    async with registry.client("admin") as a:
        audit = await walk(a, f"/audit/posyandu/{melati}", limit=3)
        assert audit == await everything(a, f"/audit/posyandu/{melati}")
        after = await everything(a, f"/audit/posyandu/{melati}", after=audit[4][0])
        assert after == audit[5:]  # `after` still works
