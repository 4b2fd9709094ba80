"""The skill catalogue: five groups of basic cadre skills (Kemenkes framework), versioned
data shipped with the package (certification/data/skills-<version>.json)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Skill:
    code: str
    name: str
    group_code: str


@dataclass(frozen=True)
class SkillGroup:
    code: str
    name: str
    skill_codes: tuple[str, ...]


@dataclass(frozen=True)
class Catalogue:
    version: str
    title: str
    source: str
    groups: tuple[SkillGroup, ...]
    skills: dict[str, Skill]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Catalogue:
        groups: list[SkillGroup] = []
        skills: dict[str, Skill] = {}
        for g in data["groups"]:
            codes: list[str] = []
            for s in g["skills"]:
                if s["code"] in skills:
                    raise ValueError(f"duplicate skill code {s['code']!r} in catalogue {data['version']}")
                skills[s["code"]] = Skill(code=s["code"], name=s["name"], group_code=g["code"])
                codes.append(s["code"])
            if not codes:
                raise ValueError(f"group {g['code']!r} has no skills")
            groups.append(SkillGroup(code=g["code"], name=g["name"], skill_codes=tuple(codes)))
        if len({g.code for g in groups}) != len(groups):
            raise ValueError("duplicate group code")
        return cls(
            version=data["version"],
            title=data.get("title", ""),
            source=data.get("source", ""),
            groups=tuple(groups),
            skills=skills,
        )

    def group(self, code: str) -> SkillGroup:
        for g in self.groups:
            if g.code == code:
                return g
        raise KeyError(code)

    def unknown(self, codes: list[str]) -> list[str]:
        return [c for c in codes if c not in self.skills]

    def complete_groups(self, badges: set[str]) -> set[str]:
        """Groups of which every skill is held as a badge."""
        return {g.code for g in self.groups if set(g.skill_codes) <= badges}


def load_catalogue(version: str = "v1") -> Catalogue:
    text = resources.files("certification.data").joinpath(f"skills-{version}.json").read_text("utf-8")
    return Catalogue.from_dict(json.loads(text))
