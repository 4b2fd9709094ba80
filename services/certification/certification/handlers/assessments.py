"""Skill assessments: pass/fail per skill, a pass is a badge, and the badges decide the
level and the certificate (first reaching a level issues one, a higher level supersedes the
old one, a passed re-assessment at the same level renews it)."""

from __future__ import annotations

import uuid
from datetime import date

from certification.adapters import repository as repo
from certification.adapters.tables import AssessmentRow, BadgeRow, CadreRow, CertificateRow
from certification.config import CertificationConfig
from certification.domain.assessments import AssessmentDecision, decide_assessment
from certification.domain.catalogue import Catalogue, Skill
from certification.domain.certificates import CurrentCertificate, local_date
from certification.entrypoints.schemas import AssessmentCreate, AssessmentOutcome, AssessmentPublic, SkillResult
from certification.handlers import certificates
from certification.handlers.projections import require_active_cadre
from sikader_shared.errors import Invalid
from sikader_shared.events import SkillAssessed
from sikader_shared.uow import UnitOfWork


async def record_assessment(uow: UnitOfWork, config: CertificationConfig, cmd: AssessmentCreate) -> AssessmentOutcome:
    """Record the results (rows, badges, SkillAssessed each), then let the badges decide the
    certificate."""
    _check(config.catalogue, cmd, local_date(uow.clock.now()))
    cadre = await require_active_cadre(uow, cmd.cadre_id)
    badges = {b.skill_code: b for b in await repo.badges_of(uow.session, cadre.cadre_id)}
    held = set(badges)
    recorded = [_record_result(uow, config.catalogue, cadre, cmd, result, badges) for result in cmd.results]
    uow.audit(
        "assessment.record",
        "cadre",
        cadre.cadre_id,
        None,
        {"assessor": cmd.assessor, "results": {r.skill_code: r.passed for r in cmd.results}},
    )
    current = await repo.current_certificate(uow.session, cadre.cadre_id)
    passed = [r.skill_code for r in cmd.results if r.passed]
    decision = decide_assessment(config.catalogue, config.policy, held, passed, _current_view(current))
    certificate = await _settle_certificate(uow, config, cadre, decision, current)
    superseded = current if decision.action == "issue" else None
    return AssessmentOutcome(
        cadre_id=cadre.cadre_id,
        assessments=recorded,
        badges=decision.badges,
        complete_groups=decision.complete_groups,
        level=decision.level,
        certificate_action=decision.action,
        certificate=certificates.certificate_public(config, certificate) if certificate is not None else None,
        superseded_certificate_id=superseded.certificate_id if superseded is not None else None,
    )


# --------------------------------------------------------------------------- steps


def _check(catalogue: Catalogue, cmd: AssessmentCreate, today: date) -> None:
    unknown = catalogue.unknown([r.skill_code for r in cmd.results])
    if unknown:
        raise Invalid("unknown skill codes", field="results", unknown_skill_codes=unknown)
    if cmd.assessed_on > today:
        raise Invalid("assessed_on lies in the future", field="assessed_on")


def _record_result(
    uow: UnitOfWork,
    catalogue: Catalogue,
    cadre: CadreRow,
    cmd: AssessmentCreate,
    result: SkillResult,
    badges: dict[str, BadgeRow],
) -> AssessmentPublic:
    """One skill's result: its row, its badge when passed (`badges` is updated), its event."""
    skill = catalogue.skills[result.skill_code]
    row = AssessmentRow(
        assessment_id=str(uuid.uuid4()),
        cadre_id=cadre.cadre_id,
        skill_code=skill.code,
        skill_group=skill.group_code,
        catalogue_version=catalogue.version,
        passed=result.passed,
        assessor=cmd.assessor,
        assessed_on=cmd.assessed_on,
        notes=result.notes,
        recorded_by=uow.actor.client_id,
        recorded_at=uow.clock.now(),
    )
    uow.session.add(row)
    badge_id = _award_badge(uow, cadre, skill, row, badges) if result.passed else None
    uow.emit(
        SkillAssessed(
            cadre_id=cadre.cadre_id,
            kelurahan_code=cadre.kelurahan_code,
            kecamatan_code=cadre.kecamatan_code,
            assessment_id=row.assessment_id,
            skill_code=skill.code,
            skill_group=skill.group_code,
            catalogue_version=catalogue.version,
            passed=result.passed,
            badge_id=badge_id,
            assessor=cmd.assessor,
            assessed_on=cmd.assessed_on,
        )
    )
    return assessment_public(row, badge_id)


def _award_badge(
    uow: UnitOfWork, cadre: CadreRow, skill: Skill, row: AssessmentRow, badges: dict[str, BadgeRow]
) -> str:
    """A first pass awards the badge; a later one only moves its last-passed date."""
    badge = badges.get(skill.code)
    if badge is None:
        badge = BadgeRow(
            cadre_id=cadre.cadre_id,
            skill_code=skill.code,
            badge_id=str(uuid.uuid4()),
            skill_group=skill.group_code,
            assessment_id=row.assessment_id,
            awarded_on=row.assessed_on,
            last_passed_on=row.assessed_on,
        )
        badges[skill.code] = badge
    else:
        badge.last_passed_on = max(badge.last_passed_on, row.assessed_on)
    uow.session.add(badge)
    return badge.badge_id


def _current_view(current: CertificateRow | None) -> CurrentCertificate | None:
    if current is None:
        return None
    return CurrentCertificate(level=current.level, status=current.status, expires_on=current.expires_on)  # type: ignore[arg-type]


async def _settle_certificate(
    uow: UnitOfWork,
    config: CertificationConfig,
    cadre: CadreRow,
    decision: AssessmentDecision,
    current: CertificateRow | None,
) -> CertificateRow | None:
    """Carry out the decision: the certificate issued or renewed, or None."""
    if decision.action == "issue" and decision.level is not None:
        return await certificates.issue(uow, config, cadre, decision.level, decision.badges, supersedes=current)
    if decision.action == "renew" and current is not None:
        await certificates.renew(uow, config, current, cadre, "reassessment", None)
        return current
    return None


def assessment_public(row: AssessmentRow, badge_id: str | None) -> AssessmentPublic:
    return AssessmentPublic.model_validate({**row.model_dump(), "badge_id": badge_id})
