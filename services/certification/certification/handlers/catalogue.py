"""The skill catalogue and the level policy in force, as the public reads them."""

from __future__ import annotations

from certification.config import CertificationConfig
from certification.entrypoints.schemas import (
    CataloguePublic,
    LevelPolicyPublic,
    LevelRulePublic,
    SkillGroupPublic,
    SkillPublic,
)


def catalogue_public(config: CertificationConfig) -> CataloguePublic:
    c = config.catalogue
    return CataloguePublic(
        version=c.version,
        title=c.title,
        source=c.source,
        groups=[
            SkillGroupPublic(
                code=g.code, name=g.name, skills=[SkillPublic(code=s, name=c.skills[s].name) for s in g.skill_codes]
            )
            for g in c.groups
        ],
    )


def level_policy_public(config: CertificationConfig) -> LevelPolicyPublic:
    return LevelPolicyPublic(
        version=config.policy.version,
        certificate_validity_years=config.validity_years,
        expiry_notice_days=config.notice_days,
        levels=[LevelRulePublic.model_validate(r.model_dump()) for r in config.policy.levels],
    )
