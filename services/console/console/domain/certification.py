"""Sertifikasi: certified cadres per level and kecamatan as a stacked bar chart and tables,
and the expiry windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WINDOWS = (30, 60, 90)
LEVEL_COLOURS = {"Purwa": "#56B4E9", "Madya": "#0072B2", "Utama": "#1a1a1a"}
ROW_HEIGHT = 22
LABEL_WIDTH = 170
CHART_WIDTH = 640


@dataclass(frozen=True)
class Segment:
    level: str
    x: float
    width: float
    count: int
    colour: str


@dataclass(frozen=True)
class AreaBar:
    code: str
    name: str
    y: int
    total: int
    segments: list[Segment]


@dataclass(frozen=True)
class CertifiedChart:
    levels: list[str]
    bars: list[AreaBar]
    width: int
    height: int
    label_width: int
    colours: dict[str, str]


def certified_chart(stats: dict[str, Any], names: dict[str, str]) -> CertifiedChart:
    """One bar per kecamatan, its levels stacked, scaled to the largest kecamatan."""
    levels = [str(lv) for lv in stats.get("levels", [])]
    rows = [r for r in stats.get("kecamatan", []) if isinstance(r, dict)]
    top = max([int(r.get("total") or 0) for r in rows] + [1])
    span = CHART_WIDTH - LABEL_WIDTH - 50
    bars = []
    for i, r in enumerate(rows):
        code = str(r.get("kecamatan_code") or "")
        x = float(LABEL_WIDTH)
        segments = []
        for level in levels:
            count = int((r.get("by_level") or {}).get(level, 0))
            width = round(span * count / top, 1)
            segments.append(Segment(level, x, width, count, LEVEL_COLOURS.get(level, "#999999")))
            x += width
        bars.append(
            AreaBar(code, names.get(code, code or "?"), i * (ROW_HEIGHT + 6), int(r.get("total") or 0), segments)
        )
    height = max(len(bars), 1) * (ROW_HEIGHT + 6) + 8
    return CertifiedChart(levels, bars, CHART_WIDTH, height, LABEL_WIDTH, LEVEL_COLOURS)


def window(value: int | None) -> int:
    return value if value in WINDOWS else 30


def skill_codes(groups: list[dict[str, Any]]) -> set[str]:
    return {str(s.get("code")) for g in groups for s in g.get("skills", [])}
