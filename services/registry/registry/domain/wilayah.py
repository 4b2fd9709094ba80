"""Wilayah (administrative areas) reference data: the kecamatan and kelurahan of one city,
parsed from a data file (adapters/wilayah_file.py reads it), so that another city (or a
national roll-out) is configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kelurahan:
    code: str
    name: str
    kecamatan_code: str
    # Approximate centroid (WGS84), when the data file has one: the map and the distance check.
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class Kecamatan:
    code: str
    name: str
    kelurahan: tuple[Kelurahan, ...]
    latitude: float | None = None
    longitude: float | None = None


class WilayahError(ValueError):
    pass


@dataclass(frozen=True)
class Wilayah:
    region_code: str  # e.g. "64.71"
    region_name: str
    kecamatan: tuple[Kecamatan, ...]

    @property
    def nik_prefix(self) -> str:
        """The first digits of a NIK issued in this region (64.71 -> "6471")."""
        return self.region_code.replace(".", "")

    def kelurahan(self, code: str) -> Kelurahan | None:
        return self._kelurahan_index().get(code)

    def kecamatan_by_code(self, code: str) -> Kecamatan | None:
        return next((k for k in self.kecamatan if k.code == code), None)

    def all_kelurahan(self) -> list[Kelurahan]:
        return [kel for kec in self.kecamatan for kel in kec.kelurahan]

    def _kelurahan_index(self) -> dict[str, Kelurahan]:
        index: dict[str, Kelurahan] | None = self.__dict__.get("_index")
        if index is None:
            index = {kel.code: kel for kel in self.all_kelurahan()}
            object.__setattr__(self, "_index", index)
        return index


def _centroid(entry: dict[str, Any], code: str) -> dict[str, float | None]:
    """The optional centroid of an area: both coordinates or neither, within WGS84 bounds."""
    lat, lon = entry.get("latitude"), entry.get("longitude")
    if lat is None and lon is None:
        return {"latitude": None, "longitude": None}
    if not isinstance(lat, int | float) or not isinstance(lon, int | float):
        raise WilayahError(f"{code}: give both latitude and longitude as numbers, or neither")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise WilayahError(f"{code}: centroid ({lat}, {lon}) is not a WGS84 point")
    return {"latitude": float(lat), "longitude": float(lon)}


def parse_wilayah(data: dict[str, Any]) -> Wilayah:
    """Validate the data file's shape: every kelurahan code sits under its kecamatan code,
    which sits under the region code."""
    try:
        region = str(data["region_code"])
        kecamatan: list[Kecamatan] = []
        for kec in data["kecamatan"]:
            kec_code = str(kec["code"])
            if not kec_code.startswith(region + "."):
                raise WilayahError(f"kecamatan {kec_code} is not under region {region}")
            kels = []
            for kel in kec["kelurahan"]:
                kel_code = str(kel["code"])
                if not kel_code.startswith(kec_code + "."):
                    raise WilayahError(f"kelurahan {kel_code} is not under kecamatan {kec_code}")
                kels.append(
                    Kelurahan(code=kel_code, name=str(kel["name"]), kecamatan_code=kec_code, **_centroid(kel, kel_code))
                )
            kecamatan.append(
                Kecamatan(code=kec_code, name=str(kec["name"]), kelurahan=tuple(kels), **_centroid(kec, kec_code))
            )
        wilayah = Wilayah(
            region_code=region, region_name=str(data.get("region_name", region)), kecamatan=tuple(kecamatan)
        )
    except (KeyError, TypeError) as exc:
        raise WilayahError(f"wilayah data file lacks {exc}") from exc
    codes = [k.code for k in wilayah.all_kelurahan()]
    if len(set(codes)) != len(codes):
        raise WilayahError("duplicate kelurahan code in the wilayah data file")
    return wilayah
