"""Read side: filtered, paginated lists, histories and the mapping statistics."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, func, literal_column, select, text
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters.tables import (
    AssignmentRecord,
    CadreRecord,
    FacilityAssessmentRecord,
    PosyanduRecord,
    VerificationRecord,
)
from registry.domain.posyandu import normalise_name
from registry.domain.wilayah import Wilayah
from sikader_shared.db import AuditRecord

FACILITY_KEYS = ("own_building", "resident_house", "public_building", "none", "not_assessed")
VERIFICATION_KEYS = ("PENDING", "VERIFIED", "REJECTED")


@dataclass(frozen=True)
class PosyanduFilter:
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    status: str | None = None
    verification_status: str | None = None
    facility_status: str | None = None
    posyandu_type: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class CadreFilter:
    nik_hash: str | None = None
    name: str | None = None
    posyandu_id: str | None = None
    kelurahan_code: str | None = None
    kecamatan_code: str | None = None
    status: str | None = None
    role: str | None = None


async def _page(session: AsyncSession, stmt: Select[Any], order: Any, page: int, size: int) -> tuple[list[Any], int]:
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows: list[Any] = list(
        (await session.execute(stmt.order_by(*order).offset((page - 1) * size).limit(size))).scalars()
    )
    return rows, int(total or 0)


async def list_posyandu(
    session: AsyncSession, f: PosyanduFilter, page: int, size: int
) -> tuple[list[PosyanduRecord], int]:
    stmt = select(PosyanduRecord)
    for name in ("kecamatan_code", "kelurahan_code", "status", "verification_status", "posyandu_type"):
        value = getattr(f, name)
        if value is not None:
            stmt = stmt.where(col(getattr(PosyanduRecord, name)) == value)
    if f.facility_status == "not_assessed":
        stmt = stmt.where(col(PosyanduRecord.facility_status).is_(None))
    elif f.facility_status is not None:
        stmt = stmt.where(col(PosyanduRecord.facility_status) == f.facility_status)
    if f.name:
        stmt = stmt.where(col(PosyanduRecord.name_key).contains(normalise_name(f.name), autoescape=True))
    return await _page(session, stmt, (col(PosyanduRecord.kelurahan_code), col(PosyanduRecord.name_key)), page, size)


async def list_cadres(session: AsyncSession, f: CadreFilter, page: int, size: int) -> tuple[list[CadreRecord], int]:
    stmt = select(CadreRecord)
    for name in ("nik_hash", "posyandu_id", "kelurahan_code", "kecamatan_code", "status"):
        value = getattr(f, name)
        if value is not None:
            stmt = stmt.where(col(getattr(CadreRecord, name)) == value)
    if f.name:
        stmt = stmt.where(col(CadreRecord.name_search).contains(f.name.lower(), autoescape=True))
    if f.role:
        # Roles are a small JSON list; a text match on the quoted code works on both databases.
        stmt = stmt.where(func.cast(col(CadreRecord.roles), Text()).contains(f'"{f.role}"', autoescape=True))
    return await _page(session, stmt, (col(CadreRecord.name_search), col(CadreRecord.id)), page, size)


async def assessments(session: AsyncSession, posyandu_id: str) -> Sequence[FacilityAssessmentRecord]:
    stmt = (
        select(FacilityAssessmentRecord)
        .where(col(FacilityAssessmentRecord.posyandu_id) == posyandu_id)
        .order_by(col(FacilityAssessmentRecord.recorded_at), col(FacilityAssessmentRecord.assessed_on))
    )
    return list((await session.execute(stmt)).scalars())


async def verifications(session: AsyncSession, posyandu_id: str) -> Sequence[VerificationRecord]:
    stmt = (
        select(VerificationRecord)
        .where(col(VerificationRecord.posyandu_id) == posyandu_id)
        .order_by(col(VerificationRecord.id))
    )
    return list((await session.execute(stmt)).scalars())


async def assignments(session: AsyncSession, cadre_id: str) -> Sequence[AssignmentRecord]:
    stmt = select(AssignmentRecord).where(col(AssignmentRecord.cadre_id) == cadre_id).order_by(col(AssignmentRecord.id))
    return list((await session.execute(stmt)).scalars())


def _empty_counts() -> dict[str, Any]:
    return {
        "posyandu": 0,
        "by_facility_status": dict.fromkeys(FACILITY_KEYS, 0),
        "by_verification_status": dict.fromkeys(VERIFICATION_KEYS, 0),
        "active_cadres": 0,
    }


def _add(target: dict[str, Any], source: dict[str, Any]) -> None:
    target["posyandu"] += source["posyandu"]
    target["active_cadres"] += source["active_cadres"]
    for group in ("by_facility_status", "by_verification_status"):
        for key, value in source[group].items():
            target[group][key] += value


async def mapping_statistics(session: AsyncSession, wilayah: Wilayah) -> dict[str, Any]:
    """Per kecamatan and kelurahan: active Posyandu by facility status (of the latest
    assessment) and by verification state, and active cadres."""
    per_kel: dict[str, dict[str, Any]] = {k.code: _empty_counts() for k in wilayah.all_kelurahan()}
    posyandu_rows = await session.execute(
        select(
            col(PosyanduRecord.kelurahan_code),
            col(PosyanduRecord.facility_status),
            col(PosyanduRecord.verification_status),
            func.count(),
        )
        .where(col(PosyanduRecord.status) == "active")
        .group_by(
            col(PosyanduRecord.kelurahan_code),
            col(PosyanduRecord.facility_status),
            col(PosyanduRecord.verification_status),
        )
    )
    for kel, facility, verification, n in posyandu_rows.tuples():
        counts = per_kel.get(kel)
        if counts is None:
            continue
        counts["posyandu"] += n
        counts["by_facility_status"][facility or "not_assessed"] += n
        counts["by_verification_status"][verification] += n
    cadre_rows = await session.execute(
        select(col(CadreRecord.kelurahan_code), func.count())
        .where(col(CadreRecord.status) == "active")
        .group_by(col(CadreRecord.kelurahan_code))
    )
    for kel, n in cadre_rows.tuples():
        if kel in per_kel:
            per_kel[kel]["active_cadres"] += n
    city = _empty_counts()
    kecamatan_out = []
    for kec in wilayah.kecamatan:
        kec_counts = _empty_counts()
        kelurahan_out = []
        for kel in kec.kelurahan:
            _add(kec_counts, per_kel[kel.code])
            kelurahan_out.append({"code": kel.code, "name": kel.name, **per_kel[kel.code]})
        _add(city, kec_counts)
        kecamatan_out.append({"code": kec.code, "name": kec.name, **kec_counts, "kelurahan": kelurahan_out})
    return {"region_code": wilayah.region_code, "region_name": wilayah.region_name, **city, "kecamatan": kecamatan_out}


# --------------------------------------------------------------------------- audit per Posyandu


def snapshot_posyandu(side: str, dialect: str) -> ColumnElement[Any]:
    """The `posyandu_id` in an audit snapshot (`before` or `after`), written as migration
    registry_0003 indexes it (a database uses an expression index only for that same
    expression, with the key as a literal)."""
    if dialect == "postgresql":
        return literal_column(f"(audit_log.\"{side}\" ->> 'posyandu_id')")
    return literal_column(f"json_extract(audit_log.\"{side}\", '$.posyandu_id')")


async def posyandu_audit(session: AsyncSession, posyandu_id: str, after: int | None, limit: int) -> list[AuditRecord]:
    """Every audited write concerning a Posyandu, oldest first: its own rows, and the rows of
    cadre writes whose before or after state names it (registered, changed, deactivated
    while there, moved in or out). One indexed query per part, merged by audit id."""
    dialect = session.get_bind().dialect.name
    # A literal, not a parameter: SQLite only uses a partial index for the literal term.
    cadre_rows = text("audit_log.entity_type = 'cadre'")
    own = (col(AuditRecord.entity_type) == "posyandu", col(AuditRecord.entity_id) == posyandu_id)
    parts = [
        select(AuditRecord).where(*own),
        *(
            select(AuditRecord).where(cadre_rows, snapshot_posyandu(side, dialect) == posyandu_id)
            for side in ("before", "after")
        ),
    ]
    found: dict[int, AuditRecord] = {}
    for stmt in parts:
        if after is not None:
            stmt = stmt.where(col(AuditRecord.id) > after)
        result = await session.execute(stmt.order_by(col(AuditRecord.id)).limit(limit))
        rows: Sequence[AuditRecord] = result.scalars().all()
        for row in rows:
            assert row.id is not None
            found[row.id] = row
    return [found[i] for i in sorted(found)[:limit]]
