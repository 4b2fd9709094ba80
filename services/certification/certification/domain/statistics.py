"""The console's certification figures: certified cadres per area and level (with totals per
row and for the city) and the expiry windows. Pure: counts come in, tables go out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from certification.domain.levels import LEVEL_ORDER, LevelName
from sikader_shared.errors import Invalid

# The windows the console offers ("expiring in the next 30, 60, 90 days").
EXPIRY_WINDOWS: tuple[int, ...] = (30, 60, 90)


@dataclass(frozen=True)
class CertifiedCount:
    """Holders of a current valid certificate in one kelurahan at one level."""

    kecamatan_code: str | None
    kelurahan_code: str | None
    level: str
    count: int


@dataclass
class AreaTally:
    """One row of the table: an area's holders per level and their total."""

    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    by_level: dict[LevelName, int] = field(default_factory=lambda: dict.fromkeys(LEVEL_ORDER, 0))
    total: int = 0

    def add(self, level: str, count: int) -> None:
        if level in self.by_level:
            self.by_level[level] += count  # type: ignore[index]
        self.total += count


@dataclass(frozen=True)
class CertifiedTable:
    kecamatan: list[AreaTally]
    kelurahan: list[AreaTally]
    city: AreaTally


def certified_table(counts: Iterable[CertifiedCount]) -> CertifiedTable:
    """Rows per kecamatan and per kelurahan (by code; a cadre whose area is not known yet
    counts under a None code), each with its total, and the city's."""
    kecamatan: dict[str | None, AreaTally] = {}
    kelurahan: dict[tuple[str | None, str | None], AreaTally] = {}
    city = AreaTally()
    for c in counts:
        kec = kecamatan.setdefault(c.kecamatan_code, AreaTally(kecamatan_code=c.kecamatan_code))
        kel = kelurahan.setdefault(
            (c.kecamatan_code, c.kelurahan_code),
            AreaTally(kecamatan_code=c.kecamatan_code, kelurahan_code=c.kelurahan_code),
        )
        for tally in (kec, kel, city):
            tally.add(c.level, c.count)
    return CertifiedTable(
        kecamatan=[kecamatan[k] for k in sorted(kecamatan, key=_code_order)],
        kelurahan=[kelurahan[k] for k in sorted(kelurahan, key=lambda k: (_code_order(k[0]), _code_order(k[1])))],
        city=city,
    )


def _code_order(code: str | None) -> tuple[bool, str]:
    return (code is None, code or "")  # unknown areas last


def expiry_window(within_days: int) -> int:
    """Only the console's windows: a list of another width would not match its counts."""
    if within_days not in EXPIRY_WINDOWS:
        raise Invalid(
            f"within_days must be one of {', '.join(map(str, EXPIRY_WINDOWS))}",
            field="within_days",
            allowed=list(EXPIRY_WINDOWS),
        )
    return within_days


def days_left(expires_on: date, today: date) -> int:
    """Whole local (WITA) days until the expiry date; a certificate expires on its date."""
    return (expires_on - today).days
