"""Insentif: the fairness chart (bars of each kelurahan's incentive per cadre against the city
median, flagged kelurahan marked), amounts in rupiah, and what a refused approval means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ACTIONS = ("calculate", "approve", "pay", "results", "close")
BAR_HEIGHT = 18
LABEL_WIDTH = 190
CHART_WIDTH = 720


def rupiah(amount: float | int | None) -> str:
    """Rp 1.250.000 (Indonesian thousands separator)."""
    if amount is None:
        return "\u2013"  # an en dash: no amount
    return "Rp " + f"{round(amount):,}".replace(",", ".")


@dataclass(frozen=True)
class Bar:
    code: str
    name: str
    y: int
    width: float
    amount_per_cadre: float | None
    ratio: float | None
    flagged: bool
    active_cadres: int
    total_amount: int


@dataclass(frozen=True)
class FairnessChart:
    bars: list[Bar]
    median: float | None
    median_x: float | None
    threshold: float
    flagged: int
    width: int
    height: int
    label_width: int


def fairness_chart(report: dict[str, Any], names: dict[str, str]) -> FairnessChart:
    """Bars sorted from the lowest incentive per cadre; the scale fits the largest bar or the
    median, whichever is larger. A kelurahan is flagged as the report says (below_threshold:
    ratio to the city median under the incentives service's setting)."""
    rows = [k for k in report.get("kelurahan", []) if isinstance(k, dict)]
    rows.sort(
        key=lambda k: (k.get("amount_per_cadre") is None, k.get("amount_per_cadre") or 0, k.get("kelurahan_code"))
    )
    median = report.get("city_median_amount_per_cadre")
    threshold = float(report.get("fairness_flag_ratio") or 0.8)
    top = max([float(k.get("amount_per_cadre") or 0) for k in rows] + [float(median or 0), 1.0])
    span = CHART_WIDTH - LABEL_WIDTH - 80
    bars = []
    for i, k in enumerate(rows):
        value = k.get("amount_per_cadre")
        ratio = k.get("ratio_to_median")
        flagged = bool(k.get("below_threshold", ratio is not None and ratio < threshold))
        code = str(k.get("kelurahan_code", ""))
        bars.append(
            Bar(code, names.get(code, code), i * (BAR_HEIGHT + 6), round(span * float(value or 0) / top, 1),
                value, ratio, flagged, int(k.get("active_cadres") or 0), int(k.get("total_amount") or 0))
        )  # fmt: skip
    median_x = LABEL_WIDTH + round(span * float(median) / top, 1) if median is not None else None
    height = max(len(bars), 1) * (BAR_HEIGHT + 6) + 24
    return FairnessChart(
        bars, median, median_x, threshold, sum(b.flagged for b in bars), CHART_WIDTH, height, LABEL_WIDTH
    )


def approval_refusal(status: int, detail: str, can_approve: bool) -> str:
    """Which explanation a refused approval needs: "segregation" when the key may approve but
    the service said no (it calculated, or its OPD did), else the plain refusal."""
    if status in (403, 409) and can_approve and any(w in detail.lower() for w in ("calculat", "segregation", "same")):
        return "segregation"
    return "refused"
