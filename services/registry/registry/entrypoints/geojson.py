"""The map's GeoJSON (RFC 7946): a FeatureCollection of the Posyandu with a point, built from
plain tuples (the whole city in one answer, no model per feature)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from registry.domain.location import location_check, meets_in_residence, shown_location
from registry.domain.wilayah import Wilayah

MEDIA_TYPE = "application/geo+json"


def feature_collection(points: Iterable[Any], wilayah: Wilayah, exact: bool) -> dict[str, Any]:
    """Features for the points (approximate where the domain says so unless `exact`), and the
    count of the Posyandu that matched but have no point (`without_coordinates`)."""
    kecamatan = {k.code: k.name for k in wilayah.kecamatan}
    features: list[dict[str, Any]] = []
    without = 0
    for pid, name, kind, kec, kel, status, facility, verification, lat, lon in points:
        if lat is None or lon is None:
            without += 1
            continue
        area = wilayah.kelurahan(kel)
        shown = shown_location(lat, lon, facility, exact)
        check = location_check(lat, lon, area.latitude, area.longitude) if area else "not_checked"
        features.append(
            {
                "type": "Feature",
                "id": pid,
                "geometry": {"type": "Point", "coordinates": [shown.longitude, shown.latitude]},
                "properties": {
                    "id": pid,
                    "name": name,
                    "posyandu_type": kind,
                    "kecamatan_code": kec,
                    "kecamatan_name": kecamatan.get(kec),
                    "kelurahan_code": kel,
                    "kelurahan_name": area.name if area else None,
                    "status": status,
                    "facility_status": facility,
                    "verification_status": verification,
                    "meets_in_residence": meets_in_residence(facility),
                    "location_precision": shown.precision,
                    "location_check": check,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features, "without_coordinates": without}
