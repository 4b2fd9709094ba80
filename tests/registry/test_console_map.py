"""What the console's map reads from the registry, over HTTP on the real broker and database:
centroids, approximate points of Posyandu meeting in a resident's house (exact only for
`registry:pii`), GET /posyandu.geojson with the list's filters, and has_coordinates."""

from __future__ import annotations

from typing import Any

import pytest

from tests.registry.conftest import Registry

pytestmark = pytest.mark.integration

KLANDASAN_ILIR = "64.71.06.1002"
HOUSE = {"name": "Posyandu Melati", "latitude": -1.271234, "longitude": 116.828765, "address": "Jl. Mawar No. 3"}
BALAI = {"name": "Posyandu Mawar", "latitude": -1.272345, "longitude": 116.829876, "address": "Balai RT 12"}
NOWHERE = {"name": "Posyandu Anggrek"}
FAR = {"name": "Posyandu Kenanga", "latitude": -1.14, "longitude": 117.03}  # Teritip, 14 km away


def _assessment(facility: str) -> dict[str, Any]:
    return {"facility_status": facility, "assessed_by": "Puskesmas Klandasan Ilir", "assessed_on": "2026-11-02"}


async def _posyandu(registry: Registry) -> dict[str, str]:
    ids = {}
    async with registry.client("writer") as w:
        for data, facility in ((HOUSE, "resident_house"), (BALAI, "public_building"), (NOWHERE, None), (FAR, None)):
            r = await w.post("/posyandu", json={**data, "kelurahan_code": KLANDASAN_ILIR, "posyandu_type": "balita"})
            assert r.status_code == 201, r.text
            ids[str(data["name"])] = r.json()["id"]
            if facility:
                assert (await w.post(f"/posyandu/{r.json()['id']}/assessments", json=_assessment(facility))).is_success
    return ids


async def test_the_map_shows_residences_approximately_without_pii_and_counts_the_unplaced(registry: Registry) -> None:
    ids = await _posyandu(registry)
    house = ids["Posyandu Melati"]
    async with registry.client("reader") as r:
        kel = (await r.get("/wilayah/kelurahan", params={"kecamatan": "64.71.06"})).json()
        kec = (await r.get("/wilayah/kecamatan")).json()
        one = (await r.get(f"/posyandu/{house}")).json()
        again = (await r.get(f"/posyandu/{house}")).json()
        listed = {p["name"]: p for p in (await r.get("/posyandu")).json()["items"]}
        unplaced = (await r.get("/posyandu", params={"has_coordinates": "false"})).json()
        placed = (await r.get("/posyandu", params={"has_coordinates": "true"})).json()
        geo = await r.get("/posyandu.geojson")
        houses = (await r.get("/posyandu.geojson", params={"facility_status": "resident_house"})).json()
        bad = await r.get("/posyandu.geojson", params={"verification_status": "MAYBE"})
    async with registry.client("pii") as p:
        exact = (await p.get(f"/posyandu/{house}")).json()
        exact_geo = (await p.get("/posyandu.geojson", params={"facility_status": "resident_house"})).json()

    assert all(k["latitude"] and k["longitude"] for k in kel + kec)
    assert {k["code"]: k["latitude"] for k in kel}[KLANDASAN_ILIR] == -1.272
    # A resident's house: snapped to the grid, the same on every read; a public building: exact.
    assert (one["latitude"], one["longitude"], one["location_precision"]) == (-1.272, 116.828, "approximate")
    assert again == one
    # The house's street address would give the point away: withheld too, shown with registry:pii.
    assert one["address"] is None and exact["address"] == "Jl. Mawar No. 3"
    assert listed["Posyandu Melati"]["address"] is None and listed["Posyandu Mawar"]["address"] == "Balai RT 12"
    assert (exact["latitude"], exact["longitude"], exact["location_precision"]) == (-1.271234, 116.828765, "exact")
    assert listed["Posyandu Melati"]["latitude"] == -1.272
    assert (listed["Posyandu Mawar"]["latitude"], listed["Posyandu Mawar"]["location_precision"]) == (
        -1.272345,
        "exact",
    )
    assert listed["Posyandu Kenanga"]["location_precision"] == "approximate"  # not assessed: may be a house
    assert listed["Posyandu Anggrek"]["location_precision"] is None
    assert [p["name"] for p in unplaced["items"]] == ["Posyandu Anggrek"] and placed["total"] == 3

    assert geo.status_code == 200 and geo.headers["content-type"] == "application/geo+json"
    collection = geo.json()
    assert collection["type"] == "FeatureCollection" and collection["without_coordinates"] == 1
    features = {f["properties"]["name"]: f for f in collection["features"]}
    assert set(features) == {"Posyandu Melati", "Posyandu Mawar", "Posyandu Kenanga"}
    melati = features["Posyandu Melati"]
    assert melati["geometry"] == {"type": "Point", "coordinates": [116.828, -1.272]}
    assert melati["properties"] | {"id": None} == {
        "id": None,
        "name": "Posyandu Melati",
        "posyandu_type": "balita",
        "kecamatan_code": "64.71.06",
        "kecamatan_name": "Balikpapan Kota",
        "kelurahan_code": KLANDASAN_ILIR,
        "kelurahan_name": "Klandasan Ilir",
        "status": "active",
        "facility_status": "resident_house",
        "verification_status": "PENDING",
        "meets_in_residence": True,
        "location_precision": "approximate",
        "location_check": "ok",
    }
    assert features["Posyandu Kenanga"]["properties"]["location_check"] == "far_from_kelurahan"
    assert features["Posyandu Mawar"]["geometry"]["coordinates"] == [116.829876, -1.272345]
    assert [f["id"] for f in houses["features"]] == [house] and houses["without_coordinates"] == 0
    assert bad.status_code == 422
    [exact_house] = exact_geo["features"]
    assert exact_house["geometry"]["coordinates"] == [116.828765, -1.271234]
    assert exact_house["properties"]["location_precision"] == "exact"


async def test_the_geojson_route_is_not_taken_for_a_posyandu_id_and_needs_a_key(registry: Registry) -> None:
    async with registry.service.client() as anonymous:
        assert (await anonymous.get("/posyandu.geojson")).status_code == 401
        spec = (await anonymous.get("/openapi.json")).json()
    assert "application/geo+json" in spec["paths"]["/posyandu.geojson"]["get"]["responses"]["200"]["content"]
    async with registry.client("reader") as r:
        empty = await r.get("/posyandu.geojson")
    assert empty.json() == {"type": "FeatureCollection", "features": [], "without_coordinates": 0}
