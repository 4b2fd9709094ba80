"""What an assessment decides: the badges the cadre holds after it, the level they reach
and what that means for the cadre's certificate."""

from __future__ import annotations

from dataclasses import dataclass

from certification.domain.catalogue import Catalogue
from certification.domain.certificates import CurrentCertificate, Decision, decide_after_assessment
from certification.domain.levels import LevelName, LevelPolicy


@dataclass(frozen=True)
class AssessmentDecision:
    badges: list[str]  # skill codes of every badge held after the assessment
    complete_groups: list[str]
    level: LevelName | None  # the level the badges reach under the policy
    action: Decision  # for the certificate: issue, renew or none


def decide_assessment(
    catalogue: Catalogue,
    policy: LevelPolicy,
    held: set[str],
    passed: list[str],
    current: CurrentCertificate | None,
) -> AssessmentDecision:
    """`held`: badges before the assessment; `passed`: the skills it passed."""
    badges = held | set(passed)
    level = policy.level_for(catalogue, badges)
    return AssessmentDecision(
        badges=sorted(badges),
        complete_groups=sorted(catalogue.complete_groups(badges)),
        level=level,
        action=decide_after_assessment(current, level, bool(passed)),
    )
