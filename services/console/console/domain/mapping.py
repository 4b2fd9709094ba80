"""The map page's view rules: which points can be drawn, their colours and legend, the
mapping statistics as tables with totals, and the export rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

FACILITY_STATUSES = ("own_building", "public_building", "resident_house", "none", "not_assessed")
VERIFICATION_STATUSES = ("VERIFIED", "PENDING", "RETURNED", "REJECTED")
# Fill by facility status (colour-blind-safe palette, Okabe-Ito); ring by verification.
FACILITY_COLOURS = {
    "own_building": "#009E73",
    "public_building": "#0072B2",
    "resident_house": "#E69F00",
    "none": "#D55E00",
    "not_assessed": "#999999",
}
VERIFICATION_RINGS = {"VERIFIED": "#1a1a1a", "PENDING": "#ffffff", "RETURNED": "#CC79A7", "REJECTED": "#a4161a"}
POSYANDU_TYPES = ("balita", "lansia", "remaja", "ILP")
POSYANDU_STATUSES = ("active", "closed", "merged")


def finite_point(lon: Any, lat: Any) -> bool:
    """A point a map can draw: two finite numbers within the earth's ranges."""
    if (
        isinstance(lon, bool)
        or isinstance(lat, bool)
        or not isinstance(lon, int | float)
        or not isinstance(lat, int | float)
    ):
        return False
    return math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90


def drawable(feature: Any) -> bool:
    if not isinstance(feature, dict):
        return False
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        return False
    coordinates = geometry.get("coordinates")
    return isinstance(coordinates, list) and len(coordinates) >= 2 and finite_point(coordinates[0], coordinates[1])


@dataclass(frozen=True)
class MapData:
    features: list[dict[str, Any]]
    skipped: int  # features whose point could not be drawn
    without_coordinates: int


def map_data(collection: Any) -> MapData:
    """The registry's FeatureCollection, with what cannot be drawn taken out and counted, and
    each feature's colours added: what the exports hold. (The map's own GeoJSON is passed
    through unparsed; its script does the same skipping and colouring in the browser.)"""
    raw = collection.get("features", []) if isinstance(collection, dict) else []
    features = []
    for f in raw if isinstance(raw, list) else []:
        if drawable(f):
            props = dict(f.get("properties") or {})
            props["fill"] = FACILITY_COLOURS.get(str(props.get("facility_status") or "not_assessed"), "#999999")
            props["ring"] = VERIFICATION_RINGS.get(str(props.get("verification_status")), "#ffffff")
            features.append({"type": "Feature", "id": f.get("id"), "geometry": f["geometry"], "properties": props})
    without = collection.get("without_coordinates", 0) if isinstance(collection, dict) else 0
    return MapData(features, len(raw) - len(features) if isinstance(raw, list) else 0, int(without or 0))


def kecamatan_labels(kecamatan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Names at their centroids (where the wilayah file has one): the map's only geography
    when no tiles load."""
    return [
        {"name": k["name"], "lat": k["latitude"], "lon": k["longitude"]}
        for k in kecamatan
        if finite_point(k.get("longitude"), k.get("latitude"))
    ]


@dataclass(frozen=True)
class AreaRow:
    code: str
    name: str
    kecamatan: str
    posyandu: int
    by_facility: dict[str, int]
    by_verification: dict[str, int]
    active_cadres: int


def _row(area: dict[str, Any], kecamatan: str = "") -> AreaRow:
    return AreaRow(
        code=str(area.get("code", "")),
        name=str(area.get("name", "")),
        kecamatan=kecamatan,
        posyandu=int(area.get("posyandu", 0)),
        by_facility={k: int(v) for k, v in (area.get("by_facility_status") or {}).items()},
        by_verification={k: int(v) for k, v in (area.get("by_verification_status") or {}).items()},
        active_cadres=int(area.get("active_cadres", 0)),
    )


def total_row(rows: list[AreaRow]) -> AreaRow:
    def add(pick: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in rows:
            for k, v in getattr(r, pick).items():
                out[k] = out.get(k, 0) + v
        return out

    return AreaRow(
        "",
        "",
        "",
        sum(r.posyandu for r in rows),
        add("by_facility"),
        add("by_verification"),
        sum(r.active_cadres for r in rows),
    )


@dataclass(frozen=True)
class MappingTables:
    kecamatan: list[AreaRow]
    kelurahan: list[AreaRow]
    total: AreaRow
    facility_columns: tuple[str, ...]
    verification_columns: tuple[str, ...]


def mapping_tables(stats: dict[str, Any]) -> MappingTables:
    """GET /statistics/mapping as two tables (per kecamatan, per kelurahan) and their total."""
    kecamatan = [_row(k) for k in stats.get("kecamatan", [])]
    kelurahan = [
        _row(kel, str(k.get("name", ""))) for k in stats.get("kecamatan", []) for kel in k.get("kelurahan", [])
    ]
    total = total_row(kecamatan)
    facility = tuple(s for s in FACILITY_STATUSES if s in total.by_facility) + tuple(
        sorted(s for s in total.by_facility if s not in FACILITY_STATUSES)
    )
    verification = tuple(s for s in VERIFICATION_STATUSES if s in total.by_verification) + tuple(
        sorted(s for s in total.by_verification if s not in VERIFICATION_STATUSES)
    )
    return MappingTables(kecamatan, kelurahan, total, facility, verification)


EXPORT_HEADER = (
    "id", "name", "posyandu_type", "kecamatan_code", "kecamatan_name", "kelurahan_code", "kelurahan_name",
    "status", "facility_status", "verification_status", "latitude", "longitude", "location_precision",
)  # fmt: skip


def export_rows(features: list[dict[str, Any]]) -> list[list[Any]]:
    """One row per Posyandu on the map (the filtered view), as the CSV and XLSX hold them."""
    rows = []
    for f in features:
        p = f.get("properties") or {}
        lon, lat = f["geometry"]["coordinates"][:2]
        rows.append([p.get(c) for c in EXPORT_HEADER[:10]] + [lat, lon, p.get("location_precision")])
    return rows


def statistics_rows(tables: MappingTables) -> tuple[list[str], list[list[Any]]]:
    """The per-kelurahan table (with the total row) for the XLSX's second sheet."""
    header = [
        "kecamatan",
        "kelurahan",
        "posyandu",
        *tables.facility_columns,
        *tables.verification_columns,
        "active_cadres",
    ]
    rows: list[list[Any]] = []
    for r in [*tables.kelurahan, tables.total]:
        rows.append(
            [r.kecamatan, r.name or "TOTAL", r.posyandu]
            + [r.by_facility.get(c, 0) for c in tables.facility_columns]
            + [r.by_verification.get(c, 0) for c in tables.verification_columns]
            + [r.active_cadres]
        )
    return header, rows


def csv_safe(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
