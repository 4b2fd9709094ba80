"""Map support without I/O: the wilayah centroids, the approximate location of a Posyandu that
meets in a resident's house, the distance check, and the demo's coordinates."""

from __future__ import annotations

import random

import pytest

from registry.adapters.wilayah_file import load_wilayah
from registry.domain.location import distance_m, location_check, shown_location, snap
from registry.domain.wilayah import Kecamatan, Kelurahan, WilayahError, parse_wilayah
from registry.entrypoints.demo import WITHOUT_COORDINATES, _coordinates, _posyandu_plan


def test_every_kecamatan_and_kelurahan_of_balikpapan_has_a_centroid_inside_the_city() -> None:
    w = load_wilayah("6471.json")
    areas: list[Kecamatan | Kelurahan] = [*w.kecamatan, *w.all_kelurahan()]
    assert len(areas) == 40
    for a in areas:
        assert a.latitude is not None and a.longitude is not None, a.code
        assert -1.30 <= a.latitude <= -1.05 and 116.75 <= a.longitude <= 117.05, a.code
    # Each kelurahan lies near its kecamatan (a swapped pair of coordinates would not).
    for kec in w.kecamatan:
        for kel in kec.kelurahan:
            assert kel.latitude is not None and kec.latitude is not None and kec.longitude is not None
            assert kel.longitude is not None
            assert distance_m(kel.latitude, kel.longitude, kec.latitude, kec.longitude) < 12_000, kel.code


def test_a_centroid_is_optional_but_needs_both_coordinates() -> None:
    area = {"region_code": "64.71", "kecamatan": [{"code": "64.71.01", "name": "X", "kelurahan": []}]}
    assert parse_wilayah(area).kecamatan[0].latitude is None
    with pytest.raises(WilayahError, match="both"):
        parse_wilayah({**area, "kecamatan": [{**area["kecamatan"][0], "latitude": -1.2}]})  # type: ignore[dict-item]


def test_a_residence_is_shown_on_a_fixed_grid_without_pii_and_exactly_with_it() -> None:
    lat, lon = -1.267512, 116.828933
    approx = shown_location(lat, lon, "resident_house", exact_allowed=False)
    assert (approx.latitude, approx.longitude, approx.precision) == (-1.268, 116.828, "approximate")
    assert distance_m(lat, lon, approx.latitude, approx.longitude) < 200  # type: ignore[arg-type]
    # Nearby reads of nearby points give the same cell: nothing to average.
    assert shown_location(lat + 0.0003, lon - 0.0002, "resident_house", False) == approx
    assert shown_location(lat, lon, None, False).precision == "approximate"  # venue not assessed yet
    assert shown_location(lat, lon, "resident_house", True).precision == "exact"
    assert shown_location(lat, lon, "public_building", False).latitude == lat
    assert shown_location(None, None, "resident_house", False).precision is None
    assert snap(-1.0009) == -1.0 and snap(116.8311) == 116.832


def test_the_location_check_flags_a_point_over_5_km_from_its_kelurahan() -> None:
    kel = load_wilayah("6471.json").kelurahan("64.71.06.1002")
    assert kel is not None
    assert location_check(-1.2675, 116.8289, kel.latitude, kel.longitude) == "ok"
    assert location_check(-1.14, 117.03, kel.latitude, kel.longitude) == "far_from_kelurahan"
    assert location_check(116.8289, -1.2675, kel.latitude, kel.longitude) == "far_from_kelurahan"  # swapped
    assert location_check(-1.2675, 116.8289, None, None) == "not_checked"


def test_the_demo_puts_each_posyandu_within_500_m_of_its_kelurahan_but_a_few() -> None:
    _, plan = _posyandu_plan(random.Random(6471), load_wilayah("6471.json"))
    points = _coordinates(6471, plan)
    assert points == _coordinates(6471, plan)  # deterministic from the seed
    assert sum(p is None for p in points) == WITHOUT_COORDINATES
    for p, planned in zip(points, plan, strict=True):
        if p is not None:
            assert distance_m(*p, planned["kelurahan"].latitude, planned["kelurahan"].longitude) <= 500
