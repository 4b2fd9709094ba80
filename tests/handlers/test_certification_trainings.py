"""Certification's trainings: planned (rows, audit, no event), completed (TrainingCompleted
per attendee; a refresher renews the current certificate), and the refusals."""

from __future__ import annotations

from datetime import date

import pytest

from certification.adapters.tables import CertificateRow, TrainingParticipantRow, TrainingRow
from certification.entrypoints.schemas import TrainingCompletion, TrainingCreate
from certification.handlers.trainings import complete_training, create_training, get_training
from sikader_shared.errors import Conflict, Forbidden, Invalid
from sikader_shared.events import CertificateRenewed, TrainingCompleted
from sikader_shared.testing.handlers import HandlerHarness
from sikader_shared.uow import Actor
from tests.certification.handlers_support import TRAINER, assess, config, known_cadre


def plan(participants: list[str], refresher: bool = False, skills: list[str] | None = None) -> TrainingCreate:
    return TrainingCreate(
        title="Pelatihan kader: pemantauan pertumbuhan balita",
        skill_codes=skills or ["2.1", "2.2"],
        started_on=date(2026, 3, 10),
        ends_on=date(2026, 3, 12),
        refresher=refresher,
        participants=participants,
    )


async def test_a_refresher_training_completes_for_the_attendees_and_renews_their_certificate(
    certification_db: HandlerHarness,
) -> None:
    siti, ani = await known_cadre(certification_db, "Siti Aminah"), await known_cadre(certification_db, "Ani Lestari")
    outcome = await assess(certification_db, siti, "1", "2", "3", on=date(2026, 1, 5))
    await certification_db.new_events()
    async with certification_db.uow(TRAINER) as uow:
        planned = await create_training(uow, config(), plan([siti, ani], refresher=True))
        await uow.commit()
    assert await certification_db.new_events() == []
    [row] = await certification_db.rows(TrainingRow, training_id=planned.training_id)
    assert (row.status, row.organiser, row.created_by) == ("scheduled", "dinkes", "dinkes")
    # The participants come with their names (the cadre projection's, read with the list).
    assert {p.cadre_id: p.name for p in planned.participants} == {siti: "Siti Aminah", ani: "Ani Lestari"}
    async with certification_db.uow(TRAINER) as uow:
        shown = await get_training(uow.session, planned.training_id)
    assert {p.cadre_id: (p.name, p.attended) for p in shown.participants} == {
        siti: ("Siti Aminah", None),
        ani: ("Ani Lestari", None),
    }

    async with certification_db.uow(TRAINER) as uow:
        done = await complete_training(uow, config(), planned.training_id, TrainingCompletion(attended=[siti]))
        await uow.commit()
    assert done.status == "completed" and done.completed_on == date(2026, 3, 12)
    assert done.renewed_certificates == [outcome.certificate.number]
    assert {p.cadre_id: (p.name, p.attended) for p in done.participants} == {
        siti: ("Siti Aminah", True),
        ani: ("Ani Lestari", False),
    }
    completed, renewed = await certification_db.new_events()
    assert isinstance(completed, TrainingCompleted) and completed.cadre_id == siti and completed.refresher
    assert isinstance(renewed, CertificateRenewed) and renewed.basis == "refresher_training"
    assert renewed.training_id == planned.training_id and renewed.expires_on == date(2029, 3, 15)
    attendance = {p.cadre_id: p.attended for p in await certification_db.rows(TrainingParticipantRow)}
    assert attendance == {siti: True, ani: False}
    [cert] = await certification_db.rows(CertificateRow, cadre_id=siti)
    assert cert.expires_on == date(2029, 3, 15)
    assert [a["action"] for a in await certification_db.audit("training", planned.training_id)] == [
        "training.create",
        "training.complete",
    ]


async def test_unknown_skills_strangers_another_opd_and_a_second_completion_are_refused(
    certification_db: HandlerHarness,
) -> None:
    siti = await known_cadre(certification_db)
    async with certification_db.uow(TRAINER) as uow:
        with pytest.raises(Invalid, match="unknown skill codes"):
            await create_training(uow, config(), plan([siti], skills=["9.9"]))
    assert await certification_db.rows(TrainingRow) == []

    async with certification_db.uow(TRAINER) as uow:
        planned = await create_training(uow, config(), plan([siti]))
        await uow.commit()
    other = Actor(client_id="dinsos", scopes=frozenset({"certification:train"}))
    async with certification_db.uow(other) as uow:
        with pytest.raises(Forbidden):
            await complete_training(uow, config(), planned.training_id, TrainingCompletion(attended=[siti]))
    async with certification_db.uow(TRAINER) as uow:
        with pytest.raises(Invalid, match="participants"):
            await complete_training(uow, config(), planned.training_id, TrainingCompletion(attended=["stranger"]))
    async with certification_db.uow(TRAINER) as uow:
        await complete_training(uow, config(), planned.training_id, TrainingCompletion(attended=[siti]))
        await uow.commit()
    await certification_db.new_events()
    async with certification_db.uow(TRAINER) as uow:
        with pytest.raises(Conflict, match="already completed"):
            await complete_training(uow, config(), planned.training_id, TrainingCompletion(attended=[siti]))
    assert await certification_db.new_events() == []
