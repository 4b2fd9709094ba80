"""Peta against the real registry: the page, the GeoJSON proxy (what the map draws), the
Posyandu without coordinates and their fix, the statistics and the exports."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import load_workbook

from tests.console.conftest import csrf_of

KELURAHAN = "64.71.06.1002"


async def _posyandu(registry_console: Any, name: str, **extra: Any) -> dict[str, Any]:
    svc = registry_console.services["registry"]
    async with svc.client(registry_console.keys["officer"]) as c:
        r = await c.post(
            "/posyandu", json={"name": name, "kelurahan_code": KELURAHAN, "posyandu_type": "balita", **extra}
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


async def test_the_map_page_draws_what_the_registry_has(registry_console: Any) -> None:
    await _posyandu(registry_console, "Posyandu Melati", latitude=-1.2675, longitude=116.8289)
    await _posyandu(registry_console, "Posyandu Mawar", latitude=-1.2690, longitude=116.8300)
    lost = await _posyandu(registry_console, "Posyandu Anggrek")
    async with registry_console.signed_in("officer") as b:
        page = await b.get("/peta")
        assert page.status_code == 200, page.text[:2000]
        html = page.text
        assert 'id="map"' in html and 'data-geojson="/peta/posyandu.geojson"' in html
        assert '<strong id="without-coordinates-count">1</strong>' in html
        assert f'href="/peta/posyandu/{lost["id"]}"' in html
        assert 'id="stats-kecamatan"' in html and 'id="stats-kelurahan"' in html
        assert "/static/vendor/leaflet/leaflet.js" in html and "<script>" not in html
        assert 'id="map-colours"' in html and '"own_building": "#009E73"' in html  # the script colours the points
        proxied = await b.get("/peta/posyandu.geojson")
        assert proxied.status_code == 200 and proxied.headers["content-type"].startswith("application/geo+json")
        fc = proxied.json()
        assert len(fc["features"]) == 2 and fc["without_coordinates"] == 1
        first = fc["features"][0]["properties"]
        assert "facility_status" in first and first["verification_status"] and first["kecamatan_name"]
        # passed through as the registry wrote it for the same person's key (not parsed and rebuilt)
        svc = registry_console.services["registry"]
        async with svc.client(registry_console.keys["officer"]) as c:
            direct = await c.get("/posyandu.geojson")
        assert proxied.content == direct.content
        only = (await b.get("/peta/posyandu.geojson?kelurahan_code=64.71.01.1001")).json()
        assert only["features"] == []


async def test_a_posyandu_without_coordinates_is_fixed_through_the_form(registry_console: Any) -> None:
    lost = await _posyandu(registry_console, "Posyandu Kenanga")
    async with registry_console.signed_in("officer") as b:
        form = await b.get(f"/peta/posyandu/{lost['id']}")
        assert form.status_code == 200 and '<label for="latitude">' in form.text
        bad = await b.post(
            f"/peta/posyandu/{lost['id']}", data={"csrf_token": csrf_of(form.text), "latitude": "abc", "longitude": "1"}
        )
        assert bad.status_code == 303 and bad.headers["location"] == f"/peta/posyandu/{lost['id']}"
        assert "&#39;abc&#39; is not a number" in (await b.get(bad.headers["location"])).text
        ok = await b.post(
            f"/peta/posyandu/{lost['id']}",
            data={"csrf_token": csrf_of(form.text), "latitude": "-1,2670", "longitude": "116.8290"},
        )
        assert ok.status_code == 303 and ok.headers["location"] == "/peta"
        page = await b.get("/peta")
        assert 'id="flash"' in page.text and '<strong id="without-coordinates-count">0</strong>' in page.text
    svc = registry_console.services["registry"]
    async with svc.client(registry_console.keys["pii_officer"]) as c:
        record = (await c.get(f"/posyandu/{lost['id']}")).json()
    assert record["latitude"] == -1.267 and record["longitude"] == 116.829


async def test_a_key_without_write_scope_sees_the_registrys_reason(registry_console: Any) -> None:
    lost = await _posyandu(registry_console, "Posyandu Dahlia")
    async with registry_console.signed_in("reader") as b:
        form = await b.get(f"/peta/posyandu/{lost['id']}")
        r = await b.post(
            f"/peta/posyandu/{lost['id']}",
            data={"csrf_token": csrf_of(form.text), "latitude": "-1.26", "longitude": "116.8"},
        )
        page = await b.get(r.headers["location"])
        assert "registry:write" in page.text and 'class="flash flash-error"' in page.text


async def test_exports_hold_the_posyandu_and_the_statistics(registry_console: Any) -> None:
    await _posyandu(registry_console, "=Posyandu Formula", latitude=-1.2675, longitude=116.8289)
    async with registry_console.signed_in("officer") as b:
        r = await b.get("/peta/export.csv")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert rows[0][:3] == ["id", "name", "posyandu_type"] and rows[1][1] == "'=Posyandu Formula"
        x = await b.get("/peta/export.xlsx")
        assert x.status_code == 200
        book = load_workbook(io.BytesIO(x.content))
        assert book.sheetnames == ["Posyandu", "Statistik kelurahan"]
        assert book["Posyandu"].max_row == 2
        last = list(book["Statistik kelurahan"].iter_rows(values_only=True))[-1]
        assert last[1] == "TOTAL" and last[2] == 1
        assert (await b.get("/peta/export.pdf")).status_code == 404


async def test_filters_by_facility_and_verification(registry_console: Any) -> None:
    await _posyandu(registry_console, "Posyandu Melati", latitude=-1.2675, longitude=116.8289)
    async with registry_console.signed_in("officer") as b:
        page = await b.get("/peta?verification_status=PENDING&facility_status=not_assessed")
        assert page.status_code == 200 and '<option value="PENDING" selected>' in page.text
        assert 'data-geojson="/peta/posyandu.geojson?verification_status=PENDING&amp;facility_status=not_assessed"' in (
            page.text
        )
        assert len((await b.get("/peta/posyandu.geojson?verification_status=PENDING")).json()["features"]) == 1
        assert (await b.get("/peta/posyandu.geojson?verification_status=VERIFIED")).json()["features"] == []
        rows = (await b.get("/peta/export.csv?verification_status=VERIFIED")).content.decode("utf-8-sig").splitlines()
        assert len(rows) == 1
        bad = await b.get("/peta?kecamatan_code=%3Cscript%3E")
        assert bad.status_code == 422
