"""Where a Posyandu is shown on a map: its exact point, or, where it meets in a resident's
house, an approximate one (the exact point is a private home); and whether its point is
plausible for its kelurahan."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Precision = Literal["exact", "approximate"]
LocationCheck = Literal["ok", "far_from_kelurahan", "not_checked"]

# A fixed grid of 0.002 degrees (about 220 m at Balikpapan's latitude): every read of the
# same point gives the same cell, so repeated reads cannot be averaged back to the house.
GRID_DEGREES = 0.002
FAR_FROM_KELURAHAN_M = 5_000.0
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class ShownLocation:
    latitude: float | None
    longitude: float | None
    precision: Precision | None  # None without coordinates


def meets_in_residence(facility_status: str | None) -> bool:
    """The latest facility assessment found it meeting in a resident's house."""
    return facility_status == "resident_house"


def is_private_venue(facility_status: str | None) -> bool:
    """A venue whose exact point is withheld without `registry:pii`: a resident's house, or
    a venue not assessed yet (it may be one)."""
    return facility_status is None or meets_in_residence(facility_status)


def snap(value: float) -> float:
    """The nearest grid line (rounded so the float prints as the grid value)."""
    return round(round(value / GRID_DEGREES) * GRID_DEGREES, 6)


def shown_location(
    latitude: float | None, longitude: float | None, facility_status: str | None, exact_allowed: bool
) -> ShownLocation:
    """The point a caller sees: exact with `registry:pii` or for a public venue; else snapped."""
    if latitude is None or longitude is None:
        return ShownLocation(None, None, None)
    if exact_allowed or not is_private_venue(facility_status):
        return ShownLocation(latitude, longitude, "exact")
    return ShownLocation(snap(latitude), snap(longitude), "approximate")


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def location_check(
    latitude: float, longitude: float, centroid_lat: float | None, centroid_lon: float | None
) -> LocationCheck:
    """ "far_from_kelurahan" for a point more than 5 km from its kelurahan's centroid (a typo in
    the coordinates, or the wrong kelurahan); "not_checked" when the wilayah file has no centroid."""
    if centroid_lat is None or centroid_lon is None:
        return "not_checked"
    far = distance_m(latitude, longitude, centroid_lat, centroid_lon) > FAR_FROM_KELURAHAN_M
    return "far_from_kelurahan" if far else "ok"
