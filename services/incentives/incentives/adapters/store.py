"""The projections the input path keeps (cadres, Posyandu, certificates, payment details,
live decisions) and the terms it decides by. Reads take sets of ids (one query per kind of
fact, chunked; plain rows, no ORM objects), writes are one multi-row upsert per table
(arrays through unnest on PostgreSQL): the per-event cost stays small."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, Table, text
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters.tables import (
    CadreRow,
    CertificateRow,
    DecisionRow,
    LiveEligibilityRow,
    PaymentDetailsRow,
    PeriodRow,
    PolicyVersionRow,
    PosyanduRow,
    StagedInputRow,
)
from incentives.domain.facts import CadreFacts, CertificateFacts, PaymentDetails, PosyanduFacts
from incentives.domain.policy import Policy
from incentives.domain.rules import outcome_before_budget
from sikader_shared.bulk import bulk_insert, driver_connection, pg_array_type
from sikader_shared.clock import utc

CHUNK = 500
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of many rows (unique on `keys`) in one statement."""
    await bulk_insert(session, model.__table__, rows, on_conflict="update", keys=keys)


def _columns(model: Any, facts: type) -> list[Column[Any]]:
    """The table's columns in the order of the facts' fields: a row builds the facts as is."""
    return [model.__table__.c[f.name] for f in fields(facts)]


CADRE_COLUMNS = _columns(CadreRow, CadreFacts)
POSYANDU_COLUMNS = _columns(PosyanduRow, PosyanduFacts)
CERTIFICATE_COLUMNS = _columns(CertificateRow, CertificateFacts)


@cache
def _select_by(columns: tuple[Column[Any], ...], key: Column[Any]) -> str:
    """PostgreSQL: the rows whose `key` is in an array parameter."""
    table = key.table
    assert isinstance(table, Table)
    names = ", ".join(c.name for c in columns)
    return f"SELECT {names} FROM {table.name} WHERE {key.name} = ANY($1::{pg_array_type(table, key.name)[0]})"


async def _rows(session: AsyncSession, columns: list[Column[Any]], key: Column[Any], ids: Iterable[str]) -> list[Any]:
    """Rows (tuples of `columns`) whose `key` is one of `ids`: on PostgreSQL one array
    parameter, straight through the driver (this runs several times per batch)."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    driver = await driver_connection(session)
    if driver is not None:
        return list(await driver.fetch(_select_by(tuple(columns), key), wanted))
    out: list[Any] = []
    for part in chunks(wanted, CHUNK):
        out.extend((await session.execute(sa_select(*columns).where(key.in_(part)))).all())
    return out


# --------------------------------------------------------------------------- facts


async def load_cadres(session: AsyncSession, ids: Iterable[str]) -> dict[str, CadreFacts]:
    return {r[0]: CadreFacts(*r) for r in await _rows(session, CADRE_COLUMNS, CADRE_COLUMNS[0], ids)}


async def load_cadres_at(session: AsyncSession, posyandu_ids: Iterable[str]) -> list[CadreFacts]:
    key = CadreRow.__table__.c.posyandu_id  # type: ignore[attr-defined]
    return [CadreFacts(*r) for r in await _rows(session, CADRE_COLUMNS, key, posyandu_ids)]


async def load_posyandu(session: AsyncSession, ids: Iterable[str]) -> dict[str, PosyanduFacts]:
    return {r[0]: PosyanduFacts(*r) for r in await _rows(session, POSYANDU_COLUMNS, POSYANDU_COLUMNS[0], ids)}


async def load_certificates(session: AsyncSession, ids: Iterable[str]) -> dict[str, CertificateFacts]:
    rows = await _rows(session, CERTIFICATE_COLUMNS, CERTIFICATE_COLUMNS[0], ids)
    return {r[0]: CertificateFacts(*r) for r in rows}


async def load_certificates_of(session: AsyncSession, cadre_ids: Iterable[str]) -> dict[str, list[CertificateFacts]]:
    out: dict[str, list[CertificateFacts]] = defaultdict(list)
    key = CertificateRow.__table__.c.cadre_id  # type: ignore[attr-defined]
    for r in await _rows(session, CERTIFICATE_COLUMNS, key, cadre_ids):
        out[r[1]].append(CertificateFacts(*r))
    return out


def _plain(facts: Iterable[Any]) -> list[dict[str, Any]]:
    # The facts' own field dicts (asdict would deep-copy every value); sorted by id, so
    # that concurrent writers lock rows in one order.
    return sorted((vars(f) for f in facts), key=lambda d: next(iter(d.values())))


async def live_decisions(session: AsyncSession, cadre_ids: Iterable[str]) -> list[Any]:
    """(cadre_id, eligible, amount) of what was last announced for these cadres."""
    t = LiveEligibilityRow.__table__  # type: ignore[attr-defined]
    return await _rows(session, [t.c.cadre_id, t.c.eligible, t.c.amount], t.c.cadre_id, cadre_ids)


async def calculated_outcomes(
    session: AsyncSession, period: str, cadre_ids: Iterable[str], policy: Policy
) -> dict[str, tuple[bool, int]]:
    """(eligible, amount) before the budget rule of each cadre's stored decision for `period`:
    what a live decision (which never applies the budget) is compared with."""
    t = DecisionRow.__table__  # type: ignore[attr-defined]
    out: dict[str, tuple[bool, int]] = {}
    for part in chunks(sorted(set(cadre_ids)), CHUNK):
        rows = await session.execute(
            sa_select(t.c.cadre_id, t.c.eligible, t.c.failed_mask, t.c.amount, t.c.level).where(
                t.c.period == period, t.c.cadre_id.in_(part)
            )
        )
        for r in rows.all():
            out[str(r.cadre_id)] = outcome_before_budget(
                bool(r.eligible), int(r.failed_mask), int(r.amount), r.level, policy
            )
    return out


async def mark_needs_recalculation(session: AsyncSession, period: str) -> None:
    await session.execute(
        PeriodRow.__table__.update()  # type: ignore[attr-defined]
        .where(PeriodRow.__table__.c.period == period)  # type: ignore[attr-defined]
        .values(needs_recalculation=True)
    )


async def save_cadres(session: AsyncSession, facts: Iterable[CadreFacts]) -> None:
    await upsert(session, CadreRow, _plain(facts), ["cadre_id"])


async def save_posyandu(session: AsyncSession, facts: Iterable[PosyanduFacts]) -> None:
    await upsert(session, PosyanduRow, _plain(facts), ["posyandu_id"])


async def save_certificates(session: AsyncSession, facts: Iterable[CertificateFacts]) -> None:
    await upsert(session, CertificateRow, _plain(facts), ["certificate_id"])


async def save_payment_details(session: AsyncSession, details: Iterable[PaymentDetails]) -> None:
    """Keeps the newest details per cadre (by changed_at) even when an older event comes late."""
    latest: dict[str, PaymentDetails] = {}
    for d in details:
        if d.cadre_id not in latest or d.changed_at >= latest[d.cadre_id].changed_at:
            latest[d.cadre_id] = d
    if not latest:
        return
    stored = await session.exec(select(PaymentDetailsRow).where(col(PaymentDetailsRow.cadre_id).in_(list(latest))))
    for row in stored:
        if utc(row.changed_at) > utc(latest[row.cadre_id].changed_at):
            latest.pop(row.cadre_id)
    await upsert(session, PaymentDetailsRow, _plain(latest.values()), ["cadre_id"])


# --------------------------------------------------------------------------- the input path's transaction

PROJECTOR_LOCK = 5_100_317  # pg advisory lock key: one projector at a time per database
DECIDE_LOCK = 5_100_318  # pg advisory lock key: one deciding transaction at a time per database


async def prefer_custom_plans(session: AsyncSession) -> None:
    """The lookups of the input path take id arrays of a batch's size. A prepared statement's
    generic plan, made while a table was small, scans it whole for every id, growing with the
    table; a custom plan probes the index (PostgreSQL; this transaction only)."""
    driver = await driver_connection(session)
    if driver is not None:
        await driver.execute("SET LOCAL plan_cache_mode = force_custom_plan")


async def lock_decisions(session: AsyncSession) -> None:
    """On PostgreSQL, one transaction at a time decides (per database), so that instances
    consuming in parallel never decide on each other's uncommitted facts nor announce one
    change twice. Taken after the transaction's projection writes (made in id order): the
    holder writes only decisions and outbox rows, which nobody writes without the lock, so
    waiting for it cannot deadlock. SQLite has a single writer anyway."""
    driver = await driver_connection(session)
    if driver is not None:
        await driver.execute("SELECT pg_advisory_xact_lock($1)", DECIDE_LOCK)


async def try_lock_projector(session: AsyncSession) -> bool:
    """One projector at a time consumes staged rows (PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PROJECTOR_LOCK}))


async def staged_inputs(session: AsyncSession, limit: int) -> list[Any]:
    """The oldest staged inputs (seq, event_id, ce_type, event_time, correlation_id, actor, payload)."""
    t = StagedInputRow.__table__  # type: ignore[attr-defined]
    stmt = sa_select(t.c.seq, t.c.event_id, t.c.ce_type, t.c.event_time, t.c.correlation_id, t.c.actor, t.c.payload)
    return list((await session.execute(stmt.order_by(t.c.seq).limit(limit))).all())


async def drop_staged(session: AsyncSession, up_to_seq: int) -> None:
    await session.execute(delete(StagedInputRow).where(col(StagedInputRow.seq) <= up_to_seq))


async def all_posyandu_ids(session: AsyncSession) -> set[str]:
    return set((await session.execute(select(PosyanduRow.posyandu_id))).scalars())


async def unassigned_cadre_ids(session: AsyncSession) -> set[str]:
    rows = await session.execute(select(CadreRow.cadre_id).where(col(CadreRow.posyandu_id).is_(None)))
    return set(rows.scalars())


# --------------------------------------------------------------------------- the terms decided by


def policy_of(row: PolicyVersionRow) -> Policy:
    return Policy(
        version=row.version,
        effective_from=row.effective_from,
        amounts=dict(row.amounts),
        requirements=tuple(row.requirements),
        cap_per_posyandu=row.cap_per_posyandu,
        budget_ceiling=row.budget_ceiling,
        note=row.note,
        sequence=row.sequence,
    )


async def policies(session: AsyncSession) -> list[Policy]:
    rows: Any = await session.execute(select(PolicyVersionRow).order_by(col(PolicyVersionRow.sequence)))
    return [policy_of(r) for r in rows.scalars()]


async def live_terms(session: AsyncSession, period: str) -> tuple[str | None, list[Policy]]:
    """The period's state (None if nobody touched it yet) and every policy version: what
    each batch of input events decides by, read through the driver on PostgreSQL."""
    driver = await driver_connection(session)
    if driver is None:
        row = await session.get(PeriodRow, period)
        return (row.state if row else None), await policies(session)
    state = await driver.fetchval("SELECT state FROM periods WHERE period = $1", period)
    rows = await driver.fetch(
        "SELECT version, sequence, effective_from, amounts, requirements, cap_per_posyandu, budget_ceiling, note"
        " FROM policy_versions ORDER BY sequence"
    )

    def data(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    return state, [
        Policy(
            version=r[0],
            effective_from=r[2],
            amounts={k: int(v) for k, v in data(r[3]).items()},
            requirements=tuple(data(r[4])),
            cap_per_posyandu=r[5],
            budget_ceiling=r[6],
            note=r[7],
            sequence=r[1],
        )
        for r in rows
    ]
