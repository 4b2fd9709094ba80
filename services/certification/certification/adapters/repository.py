"""Queries over the certification tables (no rules here)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters.tables import (
    AssessmentRow,
    BadgeRow,
    CadreRow,
    CertificateRow,
    NumberSequenceRow,
    TrainingParticipantRow,
    TrainingRow,
)
from certification.domain.certificates import CURRENT_STATUSES
from certification.domain.statistics import CertifiedCount
from sikader_shared.paging import after_key


async def get_cadre(session: AsyncSession, cadre_id: str, lock: bool = False) -> CadreRow | None:
    stmt = select(CadreRow).where(CadreRow.cadre_id == cadre_id)
    if lock:  # serialises certificate decisions per cadre on PostgreSQL
        stmt = stmt.with_for_update()
    return (await session.exec(stmt)).first()


async def cadres_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, CadreRow]:
    if not ids:
        return {}
    rows = await session.exec(select(CadreRow).where(col(CadreRow.cadre_id).in_(list(set(ids)))))
    return {r.cadre_id: r for r in rows.all()}


async def current_certificate(session: AsyncSession, cadre_id: str) -> CertificateRow | None:
    rows = await session.exec(
        select(CertificateRow).where(
            CertificateRow.cadre_id == cadre_id, col(CertificateRow.status).in_(CURRENT_STATUSES)
        )
    )
    return rows.first()


async def certificates_of(
    session: AsyncSession, cadre_id: str, after: tuple[date, str] | None = None, limit: int | None = None
) -> list[CertificateRow]:
    """A holder's certificates in (issued_on, number) order; a page: those after that key."""
    order = (col(CertificateRow.issued_on), col(CertificateRow.number))
    stmt = select(CertificateRow).where(CertificateRow.cadre_id == cadre_id).order_by(*order).limit(limit)
    later = after_key(order, after)
    if later is not None:
        stmt = stmt.where(later)
    return list((await session.exec(stmt)).all())


async def certificates_with_status(session: AsyncSession, cadre_id: str, status: str) -> list[CertificateRow]:
    rows = await session.exec(
        select(CertificateRow).where(CertificateRow.cadre_id == cadre_id, CertificateRow.status == status)
    )
    return list(rows.all())


async def certificate_by_number(session: AsyncSession, number: str) -> CertificateRow | None:
    return (await session.exec(select(CertificateRow).where(CertificateRow.number == number))).first()


async def certificate_by_id(session: AsyncSession, certificate_id: str) -> CertificateRow | None:
    return await session.get(CertificateRow, certificate_id)


async def certificates_due(session: AsyncSession, today: date, until: date, limit: int) -> list[CertificateRow]:
    """Valid certificates with something to do: past their date, or inside the notice
    horizon (`until`) and not yet announced for their current expiry date."""
    announced_for = col(CertificateRow.expiring_announced_for)
    to_announce = or_(announced_for.is_(None), announced_for != col(CertificateRow.expires_on))
    rows = await session.exec(
        select(CertificateRow)
        .where(
            CertificateRow.status == "valid",
            col(CertificateRow.expires_on) <= until,
            or_(col(CertificateRow.expires_on) <= today, to_announce),
        )
        .order_by(col(CertificateRow.expires_on), col(CertificateRow.number))
        .limit(limit)
        .with_for_update()  # two sweeps at once (job + manual run) queue instead of announcing twice
    )
    return list(rows.all())


async def badges_of(session: AsyncSession, cadre_id: str) -> list[BadgeRow]:
    rows = await session.exec(select(BadgeRow).where(BadgeRow.cadre_id == cadre_id).order_by(col(BadgeRow.skill_code)))
    return list(rows.all())


async def assessments_of(session: AsyncSession, cadre_id: str) -> list[AssessmentRow]:
    rows = await session.exec(
        select(AssessmentRow)
        .where(AssessmentRow.cadre_id == cadre_id)
        .order_by(col(AssessmentRow.assessed_on), col(AssessmentRow.recorded_at), col(AssessmentRow.skill_code))
    )
    return list(rows.all())


async def trainings_of(session: AsyncSession, cadre_id: str) -> list[tuple[TrainingRow, TrainingParticipantRow]]:
    rows = await session.exec(
        select(TrainingRow, TrainingParticipantRow)
        .join(TrainingParticipantRow, col(TrainingParticipantRow.training_id) == col(TrainingRow.training_id))
        .where(TrainingParticipantRow.cadre_id == cadre_id)
        .order_by(col(TrainingRow.started_on), col(TrainingRow.training_id))
    )
    return [(t, p) for t, p in rows.all()]


async def participants_of(session: AsyncSession, training_id: str) -> list[tuple[TrainingParticipantRow, str | None]]:
    """A training's participants, each with the name the cadre projection knows (joined: the
    training's page shows them all, and one lookup per participant cost a call each)."""
    rows = await session.exec(
        select(TrainingParticipantRow, CadreRow.name)
        .join(CadreRow, col(CadreRow.cadre_id) == col(TrainingParticipantRow.cadre_id), isouter=True)
        .where(TrainingParticipantRow.training_id == training_id)
        .order_by(col(TrainingParticipantRow.cadre_id))
    )
    return [(p, name) for p, name in rows.all()]


async def next_sequence(session: AsyncSession, scope: str) -> int:
    """Next value of a yearly number sequence. The row is created if missing (without
    failing when a concurrent issuer created it first); the UPDATE takes its row lock, so
    concurrent issuers queue instead of drawing the same number."""
    insert = pg_insert if session.bind is not None and session.bind.dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(NumberSequenceRow).values(scope=scope, last=0).on_conflict_do_nothing(index_elements=["scope"])
    )
    result = await session.execute(
        update(NumberSequenceRow)
        .where(col(NumberSequenceRow.scope) == scope)
        .values(last=col(NumberSequenceRow.last) + 1)
        .returning(col(NumberSequenceRow.last))
    )
    return int(result.scalar_one())


# --------------------------------------------------------------------------- the console's figures


def _valid_on(today: date) -> list[Any]:
    """Current valid certificates: status valid and the date not reached (the sweep that
    marks them expired may not have run yet today)."""
    return [CertificateRow.status == "valid", col(CertificateRow.expires_on) > today]


async def certified_counts(session: AsyncSession, today: date) -> list[CertifiedCount]:
    """Holders of a current valid certificate per (kecamatan, kelurahan, level), the area
    from the cadre projection (a cadre has at most one current certificate)."""
    area = (col(CadreRow.kecamatan_code), col(CadreRow.kelurahan_code), col(CertificateRow.level))
    rows = await session.exec(
        select(*area, func.count())
        .select_from(CertificateRow)
        .outerjoin(CadreRow, col(CadreRow.cadre_id) == col(CertificateRow.cadre_id))
        .where(*_valid_on(today))
        .group_by(*area)
    )
    return [CertifiedCount(kec, kel, level, int(n)) for kec, kel, level, n in rows.all()]


async def expiring_certificates(
    session: AsyncSession, today: date, until: date, after: tuple[date, str] | None, limit: int
) -> list[tuple[CertificateRow, str | None, str | None]]:
    """Current valid certificates expiring by `until`, soonest first (expires_on, number),
    with the holder's kelurahan and kecamatan."""
    order = (col(CertificateRow.expires_on), col(CertificateRow.number))
    stmt = (
        select(CertificateRow, col(CadreRow.kelurahan_code), col(CadreRow.kecamatan_code))
        .outerjoin(CadreRow, col(CadreRow.cadre_id) == col(CertificateRow.cadre_id))
        .where(*_valid_on(today), col(CertificateRow.expires_on) <= until)
        .order_by(*order)
        .limit(limit)
    )
    later = after_key(order, after)
    if later is not None:
        stmt = stmt.where(later)
    return [(cert, kel, kec) for cert, kel, kec in (await session.exec(stmt)).all()]


async def expiring_counts(session: AsyncSession, today: date, windows: Sequence[int]) -> dict[int, int]:
    """How many current valid certificates expire within each window (days), one scan."""
    expires_on = col(CertificateRow.expires_on)
    counts = [func.count(case((expires_on <= today + timedelta(days=w), 1))) for w in windows]
    row: tuple[Any, ...] = tuple((await session.execute(select(*counts).where(*_valid_on(today)))).one())
    return {w: int(n or 0) for w, n in zip(windows, row, strict=True)}


async def trainings_page(
    session: AsyncSession, status: str | None, before: tuple[date, str] | None, limit: int
) -> list[tuple[TrainingRow, int, int]]:
    """Trainings newest first (started_on, training_id descending) with their numbers of
    participants and attendees; a page: those before that key."""
    p = TrainingParticipantRow
    tally = (
        select(
            col(p.training_id).label("training_id"),
            func.count().label("participants"),
            func.count(case((col(p.attended).is_(True), 1))).label("attended"),
        )
        .group_by(col(p.training_id))
        .subquery()
    )
    order = (col(TrainingRow.started_on), col(TrainingRow.training_id))
    stmt = (
        select(TrainingRow, func.coalesce(tally.c.participants, 0), func.coalesce(tally.c.attended, 0))
        .outerjoin(tally, tally.c.training_id == col(TrainingRow.training_id))
        .order_by(*(c.desc() for c in order))
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(TrainingRow.status == status)
    if before is not None:
        stmt = stmt.where(tuple_(*order) < tuple_(*before))
    return [(t, int(n), int(a)) for t, n, a in (await session.exec(stmt)).all()]
