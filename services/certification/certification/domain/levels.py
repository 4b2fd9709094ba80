"""Levels (Purwa / Madya / Utama) from the groups a cadre has completed. The thresholds are
policy, not constants (Kemenkes confirms only Purwa's), so they are data: a LevelPolicy."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from certification.domain.catalogue import Catalogue

LevelName = Literal["Purwa", "Madya", "Utama"]
LEVEL_ORDER: tuple[LevelName, ...] = ("Purwa", "Madya", "Utama")


def rank(level: str | None) -> int:
    """0 for no level, then 1, 2, 3 from Purwa to Utama."""
    return 0 if level is None else LEVEL_ORDER.index(level) + 1


class LevelRule(BaseModel):
    model_config = ConfigDict(frozen=True)

    level: LevelName
    required_groups: list[str] = Field(default_factory=list, description="Groups that must be complete")
    min_complete_groups: int = Field(ge=1, description="How many groups must be complete in all")


class LevelPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str = Field(description="Version of the level rules, carried on CadreCertified")
    levels: list[LevelRule]

    @model_validator(mode="after")
    def _one_rule_per_level(self) -> LevelPolicy:
        names = [r.level for r in self.levels]
        if len(set(names)) != len(names):
            raise ValueError("a level appears twice in the level policy")
        return self

    def level_for(self, catalogue: Catalogue, badges: set[str]) -> LevelName | None:
        """The highest level whose rule the badges satisfy."""
        complete = catalogue.complete_groups(badges)
        best: LevelName | None = None
        for rule in self.levels:
            satisfied = set(rule.required_groups) <= complete and len(complete) >= rule.min_complete_groups
            if satisfied and rank(rule.level) > rank(best):
                best = rule.level
        return best

    def check_against(self, catalogue: Catalogue) -> None:
        """Refuse a policy that names groups the catalogue does not have."""
        codes = {g.code for g in catalogue.groups}
        for rule in self.levels:
            missing = set(rule.required_groups) - codes
            if missing:
                raise ValueError(f"level {rule.level} requires unknown groups {sorted(missing)}")
            if rule.min_complete_groups > len(codes):
                raise ValueError(f"level {rule.level} needs more groups than the catalogue has")


def load_level_policy(data: dict[str, Any] | None = None) -> LevelPolicy:
    if data is None:
        text = resources.files("certification.data").joinpath("levels-v1.json").read_text("utf-8")
        data = json.loads(text)
    return LevelPolicy.model_validate(data)
