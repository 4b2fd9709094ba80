"""The map's view rules: bad points never reach the map, colours, tables with totals, exports."""

from __future__ import annotations

import math

from console.domain.mapping import (
    csv_safe,
    export_rows,
    finite_point,
    kecamatan_labels,
    map_data,
    mapping_tables,
    statistics_rows,
)
from console.domain.sessions import expired, person_name, safe_next


def feature(lon: object, lat: object, **props: object) -> dict[str, object]:
    return {"type": "Feature", "id": "x", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def test_points_that_cannot_be_drawn_are_skipped_and_counted() -> None:
    bad = [
        feature(math.nan, -1.2),
        feature(116.8, math.inf),
        feature(200.0, -1.2),
        feature(116.8, -91),
        feature("116.8", -1.2),
        feature(None, None),
        feature(True, -1.2),
        {"type": "Feature", "geometry": None},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[116.8, -1.2]]}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.8]}},
        "not a feature",
    ]
    good = feature(116.8289, -1.2675, facility_status="resident_house", verification_status="VERIFIED")
    data = map_data({"features": [*bad, good], "without_coordinates": 3})
    assert len(data.features) == 1 and data.skipped == len(bad) and data.without_coordinates == 3
    props = data.features[0]["properties"]
    assert props["fill"] == "#E69F00" and props["ring"] == "#1a1a1a"
    assert map_data(None).features == [] and map_data({"features": "x"}).skipped == 0
    assert not finite_point(math.nan, 0) and finite_point(0, 0)


def test_kecamatan_labels_only_where_a_centroid_is_known() -> None:
    labels = kecamatan_labels(
        [
            {"name": "Balikpapan Kota", "latitude": -1.27, "longitude": 116.83},
            {"name": "Tanpa titik", "latitude": None, "longitude": None},
        ]
    )
    assert labels == [{"name": "Balikpapan Kota", "lat": -1.27, "lon": 116.83}]


STATS = {
    "kecamatan": [
        {
            "code": "64.71.06", "name": "Balikpapan Kota", "posyandu": 3, "active_cadres": 10,
            "by_facility_status": {"own_building": 1, "resident_house": 2},
            "by_verification_status": {"PENDING": 2, "VERIFIED": 1},
            "kelurahan": [
                {"code": "a", "name": "Klandasan Ilir", "posyandu": 2, "active_cadres": 6,
                 "by_facility_status": {"own_building": 1, "resident_house": 1},
                 "by_verification_status": {"VERIFIED": 1, "PENDING": 1}},
                {"code": "b", "name": "Prapatan", "posyandu": 1, "active_cadres": 4,
                 "by_facility_status": {"resident_house": 1}, "by_verification_status": {"PENDING": 1}},
            ],
        },
        {"code": "64.71.01", "name": "Balikpapan Timur", "posyandu": 1, "active_cadres": 2,
         "by_facility_status": {"none": 1}, "by_verification_status": {"REJECTED": 1}, "kelurahan": []},
    ]
}  # fmt: skip


def test_mapping_tables_have_totals_and_every_column() -> None:
    tables = mapping_tables(STATS)
    assert [r.name for r in tables.kecamatan] == ["Balikpapan Kota", "Balikpapan Timur"]
    assert [r.kecamatan for r in tables.kelurahan] == ["Balikpapan Kota", "Balikpapan Kota"]
    assert tables.total.posyandu == 4 and tables.total.active_cadres == 12
    assert tables.total.by_facility == {"own_building": 1, "resident_house": 2, "none": 1}
    assert tables.facility_columns == ("own_building", "resident_house", "none")
    assert tables.verification_columns == ("VERIFIED", "PENDING", "REJECTED")
    header, rows = statistics_rows(tables)
    assert header[0:3] == ["kecamatan", "kelurahan", "posyandu"] and rows[-1][1] == "TOTAL" and rows[-1][2] == 4


def test_export_rows_and_formula_safety() -> None:
    rows = export_rows([feature(116.8, -1.2, id="p1", name="Melati", location_precision="exact")])
    assert rows[0][0:2] == ["p1", "Melati"] and rows[0][10:] == [-1.2, 116.8, "exact"]
    assert csv_safe("=HYPERLINK()") == "'=HYPERLINK()" and csv_safe("Melati") == "Melati" and csv_safe(3) == 3


def test_sessions_rules() -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 12, 1, tzinfo=UTC)
    idle, absolute = timedelta(minutes=30), timedelta(hours=8)
    assert not expired(t0, t0, t0 + timedelta(minutes=29), idle, absolute)
    assert expired(t0, t0, t0 + timedelta(minutes=31), idle, absolute)
    assert expired(t0, t0 + timedelta(hours=8), t0 + timedelta(hours=8, minutes=1), idle, absolute)
    assert person_name({"label": " Siti ", "client_id": "dinkes"}) == "Siti"
    assert person_name({"label": "", "client_id": "dinkes"}) == "dinkes"
    for bad in ("//evil.example", "https://evil.example", "", None, "peta", "/\\evil"):
        assert safe_next(bad) == "/peta"
    assert safe_next("/kader?q=siti") == "/kader?q=siti"
