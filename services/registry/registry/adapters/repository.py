"""The registry's queries: filtered, paged lists, histories, the mapping statistics, the
audit trail per Posyandu, and the lookups the handlers make."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Text, and_, func, literal_column, or_, select, text, update
from sqlalchemy.orm import aliased, defer
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters.tables import (
    AssignmentRow,
    CadreRow,
    FacilityAssessmentRow,
    ImportJobRow,
    PosyanduRow,
    VerificationRow,
)
from registry.domain.posyandu import normalise_name
from registry.domain.wilayah import Wilayah
from sikader_shared.db import AuditRecord
from sikader_shared.errors import Invalid
from sikader_shared.paging import after_key

FACILITY_KEYS = ("own_building", "resident_house", "public_building", "none", "not_assessed")
VERIFICATION_KEYS = ("PENDING", "VERIFIED", "REJECTED", "RETURNED")


@dataclass(frozen=True)
class PosyanduFilter:
    kecamatan_code: str | None = None
    kelurahan_code: str | None = None
    status: str | None = None
    verification_status: str | None = None
    facility_status: str | None = None
    posyandu_type: str | None = None
    name: str | None = None
    has_coordinates: bool | None = None


@dataclass(frozen=True)
class CadreFilter:
    nik_hash: str | None = None
    name: str | None = None
    posyandu_id: str | None = None
    kelurahan_code: str | None = None
    kecamatan_code: str | None = None
    status: str | None = None
    role: str | None = None


async def _page(
    session: AsyncSession, stmt: Select[Any], order: Sequence[Any], at: Position, *, scalars: bool = True
) -> tuple[list[Any], int]:
    """One page of `stmt` in `order` (which ends in a unique column), and the filter's total;
    rows as objects (`scalars`) or as tuples of the selected columns."""
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    keyset = _after(order, at.after)
    if keyset is not None:
        stmt = stmt.where(keyset)
    elif at.offset:
        stmt = stmt.offset(at.offset)
    result = await session.execute(stmt.order_by(*order).limit(at.limit))
    rows: list[Any] = list(result.scalars()) if scalars else [tuple(r) for r in result.all()]
    return rows, int(total or 0)


def _after(order: Sequence[Any], key: list[Any] | None) -> ColumnElement[bool] | None:
    """The keyset condition; a cursor whose key does not fit the columns is refused (422)."""
    if key is not None and (
        len(key) != len(order) or not all(isinstance(v, c.type.python_type) for v, c in zip(key, order, strict=False))
    ):
        raise Invalid("cursor is not one for this list", field="cursor")
    return after_key(order, key)


@dataclass(frozen=True)
class Position:
    """Where a page starts: after a keyset cursor's key, or at an offset (the older `page`
    parameter); `limit` rows at most."""

    limit: int
    after: list[Any] | None = None
    offset: int = 0


POSYANDU_ORDER = (col(PosyanduRow.kelurahan_code), col(PosyanduRow.name_key))  # unique per kelurahan
CADRE_ORDER = (col(CadreRow.name_search), col(CadreRow.id))


def posyandu_key(row: PosyanduRow) -> list[Any]:
    return [row.kelurahan_code, row.name_key]


def cadre_key(row: CadreRow) -> list[Any]:
    return [row.name_search, row.id]


def _posyandu_where(stmt: Select[Any], f: PosyanduFilter) -> Select[Any]:
    for name in ("kecamatan_code", "kelurahan_code", "status", "verification_status", "posyandu_type"):
        value = getattr(f, name)
        if value is not None:
            stmt = stmt.where(col(getattr(PosyanduRow, name)) == value)
    if f.facility_status == "not_assessed":
        stmt = stmt.where(col(PosyanduRow.facility_status).is_(None))
    elif f.facility_status is not None:
        stmt = stmt.where(col(PosyanduRow.facility_status) == f.facility_status)
    if f.name:
        stmt = stmt.where(col(PosyanduRow.name_key).contains(normalise_name(f.name), autoescape=True))
    if f.has_coordinates is True:
        stmt = stmt.where(col(PosyanduRow.latitude).is_not(None), col(PosyanduRow.longitude).is_not(None))
    elif f.has_coordinates is False:
        stmt = stmt.where(or_(col(PosyanduRow.latitude).is_(None), col(PosyanduRow.longitude).is_(None)))
    return stmt


async def list_posyandu(session: AsyncSession, f: PosyanduFilter, at: Position) -> tuple[list[PosyanduRow], int]:
    return await _page(session, _posyandu_where(select(PosyanduRow), f), POSYANDU_ORDER, at)


MAP_COLUMNS = (
    col(PosyanduRow.id),
    col(PosyanduRow.name),
    col(PosyanduRow.posyandu_type),
    col(PosyanduRow.kecamatan_code),
    col(PosyanduRow.kelurahan_code),
    col(PosyanduRow.status),
    col(PosyanduRow.facility_status),
    col(PosyanduRow.verification_status),
    col(PosyanduRow.latitude),
    col(PosyanduRow.longitude),
)


async def posyandu_points(session: AsyncSession, f: PosyanduFilter) -> list[Any]:
    """Every Posyandu matching `f` (with or without a point), as plain tuples of MAP_COLUMNS:
    one statement for the whole city, no row objects."""
    columns: Select[Any] = select(*MAP_COLUMNS)  # type: ignore[assignment]
    stmt = _posyandu_where(columns, f).order_by(*POSYANDU_ORDER)
    return list((await session.execute(stmt)).tuples())


async def list_cadres(
    session: AsyncSession, f: CadreFilter, at: Position
) -> tuple[list[tuple[CadreRow, str | None]], int]:
    """A page of cadres, each with its Posyandu's name (joined here: a list shows it, and one
    lookup per row would cost a call per Posyandu), and the filter's total."""
    named: Select[Any] = select(CadreRow, col(PosyanduRow.name))  # type: ignore[assignment]
    stmt = named.outerjoin(PosyanduRow, col(PosyanduRow.id) == col(CadreRow.posyandu_id))
    for name in ("nik_hash", "posyandu_id", "kelurahan_code", "kecamatan_code", "status"):
        value = getattr(f, name)
        if value is not None:
            stmt = stmt.where(col(getattr(CadreRow, name)) == value)
    if f.name:
        stmt = stmt.where(col(CadreRow.name_search).contains(f.name.lower(), autoescape=True))
    if f.role:
        # Roles are a small JSON list; a text match on the quoted code works on both databases.
        stmt = stmt.where(func.cast(col(CadreRow.roles), Text()).contains(f'"{f.role}"', autoescape=True))
    return await _page(session, stmt, CADRE_ORDER, at, scalars=False)


def assessment_key(row: FacilityAssessmentRow) -> list[Any]:
    return [row.recorded_at.isoformat(), row.assessed_on.isoformat(), row.id]


async def assessments(session: AsyncSession, posyandu_id: str, at: Position) -> list[FacilityAssessmentRow]:
    """Oldest first: by recording time, then assessment date (the id breaks ties for paging)."""
    order = (
        col(FacilityAssessmentRow.recorded_at),
        col(FacilityAssessmentRow.assessed_on),
        col(FacilityAssessmentRow.id),
    )
    after = at.after
    if after is not None and len(after) == 3:
        try:
            after = [datetime.fromisoformat(after[0]), date.fromisoformat(after[1]), after[2]]
        except (TypeError, ValueError) as exc:
            raise Invalid("cursor is not one for this list", field="cursor") from exc
    stmt = select(FacilityAssessmentRow).where(col(FacilityAssessmentRow.posyandu_id) == posyandu_id)
    return await _keyset(session, stmt, order, after, at.limit)


async def assessments_of(session: AsyncSession, posyandu_ids: Sequence[str]) -> dict[str, list[FacilityAssessmentRow]]:
    """Every assessment of these Posyandu (a queue page's), oldest first as `assessments`
    orders them: one statement for the page, not one per Posyandu."""
    found: dict[str, list[FacilityAssessmentRow]] = {i: [] for i in posyandu_ids}
    if not posyandu_ids:
        return found
    order = (
        col(FacilityAssessmentRow.recorded_at),
        col(FacilityAssessmentRow.assessed_on),
        col(FacilityAssessmentRow.id),
    )
    stmt = select(FacilityAssessmentRow).where(col(FacilityAssessmentRow.posyandu_id).in_(list(posyandu_ids)))
    rows: list[FacilityAssessmentRow] = list((await session.execute(stmt.order_by(*order))).scalars())
    for row in rows:
        found[row.posyandu_id].append(row)
    return found


QUEUE_ORDER = (
    col(FacilityAssessmentRow.assessed_on),
    col(FacilityAssessmentRow.recorded_at),
    col(PosyanduRow.id),
)


def queue_key(item: tuple[PosyanduRow, FacilityAssessmentRow, int]) -> list[Any]:
    posyandu, latest, _ = item
    return [latest.assessed_on.isoformat(), latest.recorded_at.isoformat(), posyandu.id]


def _pending() -> tuple[ColumnElement[bool], ...]:
    """Active, and its latest assessment has no decision yet (a decision sets the state; a
    new assessment resets it to PENDING)."""
    return (
        col(PosyanduRow.status) == "active",
        col(PosyanduRow.verification_status) == "PENDING",
        col(PosyanduRow.latest_assessment_id).is_not(None),
    )


async def verification_queue(
    session: AsyncSession, at: Position
) -> tuple[list[tuple[PosyanduRow, FacilityAssessmentRow, int]], int]:
    """The Posyandu waiting for a decision, oldest pending assessment first, each with its
    latest assessment and its number of assessments; and how many wait in all."""
    earlier = aliased(FacilityAssessmentRow)
    n_assessments = (
        select(func.count()).where(col(earlier.posyandu_id) == col(PosyanduRow.id)).correlate(PosyanduRow)
    ).scalar_subquery()
    stmt = (
        select(PosyanduRow, FacilityAssessmentRow, n_assessments)
        .join(FacilityAssessmentRow, col(FacilityAssessmentRow.id) == col(PosyanduRow.latest_assessment_id))
        .where(*_pending())
    )
    after = at.after
    if after is not None:
        try:
            after = [date.fromisoformat(after[0]), datetime.fromisoformat(after[1]), after[2]]
        except (TypeError, ValueError, IndexError) as exc:
            raise Invalid("cursor is not one for this list", field="cursor") from exc
        keyset = _after(QUEUE_ORDER, after)
        assert keyset is not None
        stmt = stmt.where(keyset)
    rows = [tuple(r) for r in (await session.execute(stmt.order_by(*QUEUE_ORDER).limit(at.limit))).all()]
    total = await session.scalar(select(func.count()).select_from(PosyanduRow).where(*_pending()))
    return rows, int(total or 0)  # type: ignore[return-value]


async def verifications(session: AsyncSession, posyandu_id: str, at: Position) -> list[VerificationRow]:
    stmt = select(VerificationRow).where(col(VerificationRow.posyandu_id) == posyandu_id)
    return await _keyset(session, stmt, (col(VerificationRow.id),), at.after, at.limit)


async def assignments(session: AsyncSession, cadre_id: str, at: Position) -> list[AssignmentRow]:
    stmt = select(AssignmentRow).where(col(AssignmentRow.cadre_id) == cadre_id)
    return await _keyset(session, stmt, (col(AssignmentRow.id),), at.after, at.limit)


async def _keyset(
    session: AsyncSession, stmt: Select[Any], order: Sequence[Any], after: list[Any] | None, limit: int
) -> list[Any]:
    keyset = _after(order, after)
    if keyset is not None:
        stmt = stmt.where(keyset)
    return list((await session.execute(stmt.order_by(*order).limit(limit))).scalars())


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
            col(PosyanduRow.kelurahan_code),
            col(PosyanduRow.facility_status),
            col(PosyanduRow.verification_status),
            func.count(),
        )
        .where(col(PosyanduRow.status) == "active")
        .group_by(
            col(PosyanduRow.kelurahan_code),
            col(PosyanduRow.facility_status),
            col(PosyanduRow.verification_status),
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
        select(col(CadreRow.kelurahan_code), func.count())
        .where(col(CadreRow.status) == "active")
        .group_by(col(CadreRow.kelurahan_code))
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


# --------------------------------------------------------------------------- import jobs


async def lock_import_job(session: AsyncSession, job_id: str) -> ImportJobRow | None:
    """The job, locked for this transaction; None when another worker holds it (PostgreSQL
    SKIP LOCKED; SQLite serialises writers anyway)."""
    stmt = select(ImportJobRow).where(col(ImportJobRow.id) == job_id).with_for_update(skip_locked=True)
    found: ImportJobRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def next_import_job(session: AsyncSession) -> ImportJobRow | None:
    stmt = (
        select(ImportJobRow)
        .where(col(ImportJobRow.status).in_(("queued", "running")))
        .order_by(col(ImportJobRow.created_at), col(ImportJobRow.id))
        .limit(1)
    )
    found: ImportJobRow | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


def import_job_key(row: ImportJobRow) -> list[Any]:
    return [row.created_at.isoformat(), row.id]


async def import_jobs(session: AsyncSession, client_id: str, at: Position) -> list[ImportJobRow]:
    """The client's jobs, newest first (without their files)."""
    stmt = (
        select(ImportJobRow)
        .options(defer(ImportJobRow.content))  # type: ignore[arg-type]
        .where(col(ImportJobRow.client_id) == client_id)
    )
    if at.after is not None:
        try:
            created, last_id = datetime.fromisoformat(at.after[0]), str(at.after[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise Invalid("cursor is not one for this list", field="cursor") from exc
        created_at = col(ImportJobRow.created_at)
        stmt = stmt.where(or_(created_at < created, and_(created_at == created, col(ImportJobRow.id) < last_id)))
    stmt = stmt.order_by(col(ImportJobRow.created_at).desc(), col(ImportJobRow.id).desc()).limit(at.limit)
    return list((await session.execute(stmt)).scalars())


# --------------------------------------------------------------------------- the handlers' lookups

LOOKUP_CHUNK = 2000  # values per IN (...) list


async def missing_cadres(session: AsyncSession, ids: set[str]) -> list[str]:
    """The ids among `ids` that name no cadre, sorted."""
    if not ids:
        return []
    found: set[str] = set((await session.execute(select(col(CadreRow.id)).where(col(CadreRow.id).in_(ids)))).scalars())
    return sorted(ids - found)


async def posyandu_named(session: AsyncSession, kelurahan_code: str, name_key: str) -> str | None:
    """The id of the Posyandu of this normalised name in the kelurahan, if there is one."""
    stmt = select(col(PosyanduRow.id)).where(
        col(PosyanduRow.kelurahan_code) == kelurahan_code, col(PosyanduRow.name_key) == name_key
    )
    found: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return found


async def posyandu_by_id(session: AsyncSession, ids: set[str]) -> dict[str, PosyanduRow]:
    if not ids:
        return {}
    stmt = select(PosyanduRow).where(col(PosyanduRow.id).in_(ids))
    rows: Sequence[PosyanduRow] = (await session.execute(stmt)).scalars().all()
    return {p.id: p for p in rows}


async def active_posyandu_by_name(session: AsyncSession, kelurahan: set[str]) -> dict[tuple[str, str], PosyanduRow]:
    """(kelurahan code, normalised name) -> the active Posyandu, in these kelurahan."""
    if not kelurahan:
        return {}
    stmt = select(PosyanduRow).where(
        col(PosyanduRow.kelurahan_code).in_(kelurahan), col(PosyanduRow.status) == "active"
    )
    rows: Sequence[PosyanduRow] = (await session.execute(stmt)).scalars().all()
    return {(p.kelurahan_code, p.name_key): p for p in rows}


async def posyandu_ids_by_name(session: AsyncSession, kelurahan: list[str]) -> dict[tuple[str, str], str]:
    """(kelurahan code, normalised name) -> id of every Posyandu in these kelurahan."""
    known: dict[tuple[str, str], str] = {}
    for start in range(0, len(kelurahan), LOOKUP_CHUNK):
        stmt = select(col(PosyanduRow.kelurahan_code), col(PosyanduRow.name_key), col(PosyanduRow.id)).where(
            col(PosyanduRow.kelurahan_code).in_(kelurahan[start : start + LOOKUP_CHUNK])
        )
        known.update({(k, n): i for k, n, i in (await session.execute(stmt)).tuples()})
    return known


async def cadre_ids_by_nik_hash(session: AsyncSession, hashes: list[str]) -> dict[str, str]:
    """nik_hash -> cadre id of the already registered ones among `hashes`."""
    found: dict[str, str] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start : start + LOOKUP_CHUNK]
        rows = await session.execute(
            select(col(CadreRow.nik_hash), col(CadreRow.id)).where(col(CadreRow.nik_hash).in_(chunk))
        )
        found.update({h: i for h, i in rows.tuples()})
    return found


async def cadres_at(session: AsyncSession, posyandu_id: str) -> list[CadreRow]:
    """The cadres whose primary Posyandu this is, by id."""
    stmt = select(CadreRow).where(col(CadreRow.posyandu_id) == posyandu_id).order_by(col(CadreRow.id))
    return list((await session.execute(stmt)).scalars())


async def end_primary_assignment(session: AsyncSession, cadre_id: str, end_on: date, reason: str) -> None:
    """Close the cadre's open primary assignment (history keeps it)."""
    await session.execute(
        update(AssignmentRow)
        .where(
            col(AssignmentRow.cadre_id) == cadre_id,
            col(AssignmentRow.is_primary).is_(True),
            col(AssignmentRow.end_on).is_(None),
        )
        .values(end_on=end_on, end_reason=reason)
    )
