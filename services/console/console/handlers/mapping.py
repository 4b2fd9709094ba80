"""Peta: the map's data, the mapping statistics, the Posyandu without coordinates and their
fix, and the exports. Every read is the signed-in person's, so masking and approximate
locations follow their key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from console.adapters.services import Answer, Caller, ServiceClient
from console.domain.mapping import MapData, MappingTables, kecamatan_labels, map_data, mapping_tables
from console.handlers.common import Refused, body_of, items_of

FILTERS = ("kecamatan_code", "kelurahan_code", "posyandu_type", "status", "verification_status", "facility_status")


def clean_filters(values: dict[str, Any]) -> dict[str, str]:
    return {k: str(values[k]) for k in FILTERS if values.get(k)}


@dataclass(frozen=True)
class MapPage:
    kecamatan: list[dict[str, Any]]
    kelurahan: list[dict[str, Any]]
    labels: list[dict[str, Any]]
    tables: MappingTables
    without: list[dict[str, Any]]
    without_total: int


async def map_page(client: ServiceClient, caller: Caller, filters: dict[str, str]) -> MapPage:
    """Everything the map page shows around the map itself (the points come from /peta/posyandu.geojson)."""
    kec, kel, stats, without = await asyncio.gather(
        client.get(caller, "registry", "/wilayah/kecamatan"),
        client.get(caller, "registry", "/wilayah/kelurahan"),
        client.get(caller, "registry", "/statistics/mapping"),
        client.get(caller, "registry", "/posyandu", has_coordinates="false", limit=100, **filters),
    )
    kecamatan = items_of(body_of(kec))
    without_body = body_of(without)
    listed = items_of(without_body)
    total = without_body.get("total", len(listed)) if isinstance(without_body, dict) else len(listed)
    return MapPage(
        kecamatan=kecamatan,
        kelurahan=items_of(body_of(kel)),
        labels=kecamatan_labels(kecamatan),
        tables=mapping_tables(body_of(stats)),
        without=[p for p in listed if p.get("latitude") is None or p.get("longitude") is None],
        without_total=int(total),
    )


async def geojson(client: ServiceClient, caller: Caller, filters: dict[str, str]) -> Answer:
    """The registry's GeoJSON as it wrote it, for the map's script: it skips and counts the
    points it cannot draw and colours them itself, so the body is not parsed and written again
    here (half the page's time at 1,000 Posyandu). A refusal raises, with the registry's status."""
    answer = await client.get_raw(caller, "registry", "/posyandu.geojson", **filters)
    body_of(answer)
    return answer


async def points(client: ServiceClient, caller: Caller, filters: dict[str, str]) -> MapData:
    return map_data(body_of(await client.get(caller, "registry", "/posyandu.geojson", **filters)))


async def statistics(client: ServiceClient, caller: Caller) -> MappingTables:
    return mapping_tables(body_of(await client.get(caller, "registry", "/statistics/mapping")))


async def posyandu(client: ServiceClient, caller: Caller, posyandu_id: str) -> dict[str, Any]:
    body: dict[str, Any] = body_of(await client.get(caller, "registry", f"/posyandu/{posyandu_id}"))
    return body


def parse_coordinate(value: str, low: float, high: float) -> float:
    try:
        number = float(value.replace(",", "."))
    except ValueError:
        raise Refused(422, f"{value!r} is not a number") from None
    if not low <= number <= high:
        raise Refused(422, f"{number} is outside {low}..{high}")
    return number


async def set_coordinates(client: ServiceClient, caller: Caller, posyandu_id: str, lat: str, lon: str) -> None:
    """PATCH the Posyandu's point at the registry (registry:write)."""
    latitude = parse_coordinate(lat, -90, 90)
    longitude = parse_coordinate(lon, -180, 180)
    body = {"latitude": latitude, "longitude": longitude}
    body_of(await client.call(caller, "registry", "PATCH", f"/posyandu/{posyandu_id}", json=body))
