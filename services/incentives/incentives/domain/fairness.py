"""The fairness flag of the council's report: is a kelurahan's incentive per cadre far
below the city's typical kelurahan?

`amount_per_cadre` is the period's calculated amount in the kelurahan (after the cap and the
budget rule: what is approved, so the flag can be read before anything is paid) divided by
its cadres active through the period (those who pass the cadre_active fact). Per active
cadre, not per paid cadre: per paid cadre only shows the mix of levels, while per active
cadre also drops where Posyandu are unverified or closed, or certificates lapsed, which is
what the council asks about. The city's median is taken over the kelurahan with active
cadres; a kelurahan is flagged when its ratio to that median is below the setting
(SIKADER_INCENTIVES_FAIRNESS_FLAG_RATIO)."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

DEFAULT_FLAG_RATIO = 0.8


@dataclass(frozen=True)
class FairnessFlags:
    city_median_amount_per_cadre: float | None
    flagged: int


def amount_per_cadre(total_amount: int, active_cadres: int) -> float | None:
    """Rupiah per active cadre (two decimals); None where no cadre was active."""
    return round(total_amount / active_cadres, 2) if active_cadres else None


def flag_kelurahan(kelurahan: list[dict[str, Any]], threshold: float) -> FairnessFlags:
    """Adds amount_per_cadre, ratio_to_median and below_threshold to each kelurahan row
    (which holds total_amount and active_cadres); returns the city median and the count
    flagged. No median (no active cadre anywhere) or a median of 0 flags nobody."""
    for k in kelurahan:
        k["amount_per_cadre"] = amount_per_cadre(k["total_amount"], k["active_cadres"])
    values = [k["amount_per_cadre"] for k in kelurahan if k["amount_per_cadre"] is not None]
    city = round(float(median(values)), 2) if values else None
    flagged = 0
    for k in kelurahan:
        value = k["amount_per_cadre"]
        ratio = round(value / city, 4) if value is not None and city else None
        k["ratio_to_median"] = ratio
        k["below_threshold"] = ratio is not None and ratio < threshold
        flagged += k["below_threshold"]
    return FairnessFlags(city_median_amount_per_cadre=city, flagged=flagged)
