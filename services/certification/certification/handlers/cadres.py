"""Reads about one cadre: as certification knows it, and its whole history here
(trainings, assessments, badges, certificates)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters import repository as repo
from certification.adapters.tables import BadgeRow
from certification.config import CertificationConfig
from certification.entrypoints.schemas import BadgePublic, CadreHistory, CadrePublic, TrainingHistoryItem
from certification.handlers.assessments import assessment_public
from certification.handlers.certificates import certificate_public
from sikader_shared.errors import NotFound


async def cadre_view(session: AsyncSession, cadre_id: str) -> CadrePublic:
    cadre = await repo.get_cadre(session, cadre_id)
    if cadre is None or cadre.name is None:
        raise NotFound("cadre not known to certification (no registry event seen yet)", cadre_id=cadre_id)
    current = await repo.current_certificate(session, cadre_id)
    return CadrePublic.model_validate(
        {
            **cadre.model_dump(),
            "level": current.level if current is not None else None,
            "certificate_number": current.number if current is not None else None,
        }
    )


async def history(session: AsyncSession, config: CertificationConfig, cadre_id: str) -> CadreHistory:
    cadre = await cadre_view(session, cadre_id)
    badges = await repo.badges_of(session, cadre_id)
    badge_by_assessment = {b.assessment_id: b.badge_id for b in badges}
    return CadreHistory(
        cadre=cadre,
        trainings=[
            TrainingHistoryItem.model_validate({**t.model_dump(), "attended": p.attended})
            for t, p in await repo.trainings_of(session, cadre_id)
        ],
        assessments=[
            assessment_public(a, badge_by_assessment.get(a.assessment_id))
            for a in await repo.assessments_of(session, cadre_id)
        ],
        badges=[_badge_public(config, b) for b in badges],
        certificates=[certificate_public(config, c) for c in await repo.certificates_of(session, cadre_id)],
    )


def _badge_public(config: CertificationConfig, badge: BadgeRow) -> BadgePublic:
    skill = config.catalogue.skills.get(badge.skill_code)
    return BadgePublic.model_validate({**badge.model_dump(), "skill_name": skill.name if skill is not None else ""})
