"""Trainings: planned with their participants, completed with the attendance. Every
attendee gets TrainingCompleted; a refresher training renews their current certificate."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters import repository as repo
from certification.adapters.tables import CadreRow, TrainingParticipantRow, TrainingRow
from certification.config import CertificationConfig
from certification.domain.certificates import local_date
from certification.entrypoints.schemas import TrainingCompletion, TrainingCreate, TrainingPublic, TrainingSummary
from certification.handlers import certificates
from certification.handlers.projections import require_active_cadres
from sikader_shared.errors import Conflict, Forbidden, Invalid, NotFound
from sikader_shared.events import TrainingCompleted
from sikader_shared.uow import UnitOfWork


async def create_training(uow: UnitOfWork, config: CertificationConfig, cmd: TrainingCreate) -> TrainingPublic:
    unknown_skills = config.catalogue.unknown(cmd.skill_codes)
    if unknown_skills:
        raise Invalid("unknown skill codes", field="skill_codes", unknown_skill_codes=unknown_skills)
    cadres = await require_active_cadres(uow, cmd.participants, field="participants")
    training = TrainingRow(
        training_id=str(uuid.uuid4()),
        title=cmd.title,
        organiser=cmd.organiser or uow.actor.client_id,
        skill_codes=list(cmd.skill_codes),
        started_on=cmd.started_on,
        ends_on=cmd.ends_on,
        place=cmd.place,
        refresher=cmd.refresher,
        status="scheduled",
        created_by=uow.actor.client_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(training)
    participants = [TrainingParticipantRow(training_id=training.training_id, cadre_id=c) for c in cmd.participants]
    uow.session.add_all(participants)
    uow.audit("training.create", "training", training.training_id, None, cmd.model_dump(mode="json"))
    return training_public(training, [(p, cadres[p.cadre_id].name) for p in participants])


async def complete_training(
    uow: UnitOfWork, config: CertificationConfig, training_id: str, cmd: TrainingCompletion
) -> TrainingPublic:
    """Record attendance; every attendee gets TrainingCompleted, and a refresher training
    renews the attendee's current certificate."""
    training = await _training_to_complete(uow, training_id)
    named = await repo.participants_of(uow.session, training_id)
    participants = [p for p, _ in named]
    completed_on = _completion_date(uow, training, participants, cmd)
    cadres = await require_active_cadres(uow, cmd.attended, field="attended")
    attended = set(cmd.attended)
    for p in participants:
        p.attended = p.cadre_id in attended
        uow.session.add(p)
    training.status, training.completed_on = "completed", completed_on
    uow.session.add(training)
    renewed: list[str] = []
    for cadre_id in sorted(attended):
        uow.emit(_completed(training, cadres[cadre_id]))
        if training.refresher:
            renewed += await _renew_by_refresher(uow, config, training, cadres[cadre_id])
    uow.audit(
        "training.complete",
        "training",
        training_id,
        None,
        {"attended": sorted(attended), "completed_on": completed_on.isoformat(), "renewed": renewed},
    )
    out = training_public(training, named)
    out.renewed_certificates = renewed
    return out


async def get_training(session: AsyncSession, training_id: str) -> TrainingPublic:
    training = await session.get(TrainingRow, training_id)
    if training is None:
        raise NotFound("training not found", training_id=training_id)
    return training_public(training, await repo.participants_of(session, training_id))


async def list_trainings(
    session: AsyncSession, status: str | None, after: list[Any] | None, limit: int
) -> list[TrainingSummary]:
    """Trainings newest first (by start date), optionally of one status; a page."""
    rows = await repo.trainings_page(session, status, _training_key(after), limit)
    return [TrainingSummary.model_validate({**t.model_dump(), "participants": n, "attended": a}) for t, n, a in rows]


def training_page_key(item: TrainingSummary) -> list[Any]:
    return [item.started_on.isoformat(), item.training_id]


def _training_key(after: list[Any] | None) -> tuple[date, str] | None:
    if after is None:
        return None
    try:
        started_on, training_id = after
        return date.fromisoformat(started_on), str(training_id)
    except (TypeError, ValueError) as exc:
        raise Invalid("cursor is not one for this list", field="cursor") from exc


# --------------------------------------------------------------------------- steps


async def _training_to_complete(uow: UnitOfWork, training_id: str) -> TrainingRow:
    training = await uow.session.get(TrainingRow, training_id)
    if training is None:
        raise NotFound("training not found", training_id=training_id)
    if training.created_by != uow.actor.client_id and not uow.actor.has("admin"):
        # Attendance is the planning OPD's record: another OPD's key must not complete it
        # (completion issues TrainingCompleted and renews certificates).
        raise Forbidden(
            "only the OPD client that planned the training may record its attendance",
            training_id=training_id,
            planned_by=training.created_by,
        )
    if training.status == "completed":
        raise Conflict("training already completed", training_id=training_id)
    return training


def _completion_date(
    uow: UnitOfWork, training: TrainingRow, participants: list[TrainingParticipantRow], cmd: TrainingCompletion
) -> date:
    enrolled = {p.cadre_id for p in participants}
    strangers = [c for c in cmd.attended if c not in enrolled]
    if strangers:
        raise Invalid("attendees must be participants of the training", field="attended", cadre_ids=strangers)
    today = local_date(uow.clock.now())
    completed_on = cmd.completed_on or min(training.ends_on, today)
    if completed_on < training.started_on or completed_on > today:
        raise Invalid("completed_on must lie between the start of the training and today", field="completed_on")
    return completed_on


def _completed(training: TrainingRow, cadre: CadreRow) -> TrainingCompleted:
    assert training.completed_on is not None
    return TrainingCompleted(
        cadre_id=cadre.cadre_id,
        kelurahan_code=cadre.kelurahan_code,
        kecamatan_code=cadre.kecamatan_code,
        training_id=training.training_id,
        title=training.title,
        organiser=training.organiser,
        skill_codes=list(training.skill_codes),
        started_on=training.started_on,
        completed_on=training.completed_on,
        place=training.place,
        refresher=training.refresher,
    )


async def _renew_by_refresher(
    uow: UnitOfWork, config: CertificationConfig, training: TrainingRow, cadre: CadreRow
) -> list[str]:
    """The attendee's current certificate, renewed (valid or expired ones only)."""
    current = await repo.current_certificate(uow.session, cadre.cadre_id)
    if current is None or current.status not in ("valid", "expired"):
        return []
    await certificates.renew(uow, config, current, cadre, "refresher_training", training.training_id)
    return [current.number]


def training_public(
    training: TrainingRow, participants: list[tuple[TrainingParticipantRow, str | None]]
) -> TrainingPublic:
    listed = [{"cadre_id": p.cadre_id, "attended": p.attended, "name": name} for p, name in participants]
    return TrainingPublic.model_validate({**training.model_dump(), "participants": listed})
