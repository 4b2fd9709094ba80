"""Incentive policy as versioned data. A version is never edited: a change is a new version
that takes effect from a period. The amounts below are defaults to configure, not facts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

LEVELS: tuple[str, ...] = ("Purwa", "Madya", "Utama")
LEVEL_RANK: dict[str, int] = {"Purwa": 1, "Madya": 2, "Utama": 3}

# Requirements a policy may switch on (all on by default), then the two ranking rules.
REQUIREMENTS: tuple[str, ...] = ("cadre_active", "certificate_valid", "posyandu_verified", "posyandu_open")
RULES: tuple[str, ...] = (*REQUIREMENTS, "posyandu_cap", "budget")

# One bit per rule in a decision's `failed_mask` (compact for a million rows).
RULE_BIT: dict[str, int] = {rule: 1 << i for i, rule in enumerate(RULES)}

DEFAULT_AMOUNTS: dict[str, int] = {"Purwa": 250_000, "Madya": 350_000, "Utama": 500_000}
DEFAULT_CAP = 5


@dataclass(frozen=True)
class Policy:
    version: str
    effective_from: str  # period 'YYYY-MM'
    amounts: dict[str, int]
    requirements: tuple[str, ...] = REQUIREMENTS
    cap_per_posyandu: int | None = DEFAULT_CAP
    budget_ceiling: int | None = None
    note: str = ""
    sequence: int = field(default=1, compare=False)

    def requires(self, rule: str) -> bool:
        return rule in self.requirements

    def amount_for(self, level: str | None) -> int:
        return self.amounts.get(level, 0) if level else 0

    @property
    def required_mask(self) -> int:
        return sum(RULE_BIT[r] for r in self.requirements)


# Seeded as version "v1" by the migration; these are defaults for the city to configure.
DEFAULT_POLICY = Policy(
    version="v1",
    effective_from="2000-01",
    amounts=dict(DEFAULT_AMOUNTS),
    note="Default amounts (Purwa 250,000; Madya 350,000; Utama 500,000 rupiah), cap 5 per Posyandu, "
    "no budget ceiling: defaults to configure with a new policy version.",
)


class PolicyInvalid(ValueError):
    def __init__(self, message: str, field_name: str) -> None:
        super().__init__(message)
        self.field_name = field_name


def validate_terms(
    amounts: dict[str, int], requirements: Iterable[str], cap: int | None, budget_ceiling: int | None
) -> tuple[str, ...]:
    """Checks a new version's terms; returns the requirements in canonical order."""
    missing = [lv for lv in LEVELS if lv not in amounts]
    if missing:
        raise PolicyInvalid(f"an amount is needed for every level; missing: {', '.join(missing)}", "amounts")
    unknown = sorted(set(amounts) - set(LEVELS))
    if unknown:
        raise PolicyInvalid(f"unknown levels: {', '.join(unknown)} (known: Purwa, Madya, Utama)", "amounts")
    if any(a < 0 for a in amounts.values()):
        raise PolicyInvalid("amounts are whole rupiah, not negative", "amounts")
    reqs = set(requirements)
    bad = sorted(reqs - set(REQUIREMENTS))
    if bad:
        raise PolicyInvalid(
            f"unknown requirements: {', '.join(bad)} (known: {', '.join(REQUIREMENTS)})", "requirements"
        )
    if cap is not None and cap < 1:
        raise PolicyInvalid("the cap per Posyandu is at least 1 (or null for no cap)", "cap_per_posyandu")
    if budget_ceiling is not None and budget_ceiling < 0:
        raise PolicyInvalid("the budget ceiling is whole rupiah, not negative", "budget_ceiling")
    return tuple(r for r in REQUIREMENTS if r in reqs)


def policy_for(policies: Iterable[Policy], period: str) -> Policy:
    """The version in force for a period: the latest effective_from not after the period;
    among versions effective from the same period, the one created last."""
    candidates = [p for p in policies if p.effective_from <= period]
    if not candidates:
        return DEFAULT_POLICY
    return max(candidates, key=lambda p: (p.effective_from, p.sequence))
