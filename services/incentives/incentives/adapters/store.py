"""Loading and saving facts, policies and periods. Reads take sets of ids (one query per
kind of fact, chunked), writes are multi-row upserts: the per-event cost stays small."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, fields
from typing import Any, TypeVar

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters.calculation import dialect_of
from incentives.adapters.tables import (
    CadreRow,
    CertificateRow,
    DecisionRow,
    PaymentDetailsRow,
    PeriodRow,
    PolicyVersionRow,
    PosyanduRow,
)
from incentives.domain.facts import CadreFacts, CertificateFacts, PaymentDetails, PosyanduFacts
from incentives.domain.periods import PeriodState
from incentives.domain.policy import Policy
from incentives.domain.rules import Decision
from sikader_shared.clock import utc

CHUNK = 500
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def to_facts(cls: type[T], row: Any) -> T:
    return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


async def upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
    """INSERT ... ON CONFLICT DO UPDATE of many rows in one statement per chunk."""
    if not rows:
        return
    table: Table = model.__table__
    insert = postgresql.insert if dialect_of(session) == "postgresql" else sqlite.insert
    for part in chunks(rows, 1000):
        stmt = insert(table)
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in part[0] if c not in keys}
        )
        await session.execute(stmt, list(part))


# --------------------------------------------------------------------------- facts


async def load_cadres(session: AsyncSession, ids: Iterable[str]) -> dict[str, CadreFacts]:
    out: dict[str, CadreFacts] = {}
    for part in chunks(sorted(set(ids))):
        rows = await session.exec(select(CadreRow).where(col(CadreRow.cadre_id).in_(part)))
        for row in rows:
            out[row.cadre_id] = to_facts(CadreFacts, row)
    return out


async def load_cadres_at(session: AsyncSession, posyandu_ids: Iterable[str]) -> list[CadreFacts]:
    out: list[CadreFacts] = []
    for part in chunks(sorted(set(posyandu_ids))):
        rows = await session.exec(select(CadreRow).where(col(CadreRow.posyandu_id).in_(part)))
        out.extend(to_facts(CadreFacts, r) for r in rows)
    return out


async def load_posyandu(session: AsyncSession, ids: Iterable[str]) -> dict[str, PosyanduFacts]:
    out: dict[str, PosyanduFacts] = {}
    for part in chunks(sorted(set(ids))):
        rows = await session.exec(select(PosyanduRow).where(col(PosyanduRow.posyandu_id).in_(part)))
        for r in rows:
            out[r.posyandu_id] = to_facts(PosyanduFacts, r)
    return out


async def load_certificates(session: AsyncSession, ids: Iterable[str]) -> dict[str, CertificateFacts]:
    out: dict[str, CertificateFacts] = {}
    for part in chunks(sorted(set(ids))):
        rows = await session.exec(select(CertificateRow).where(col(CertificateRow.certificate_id).in_(part)))
        for r in rows:
            out[r.certificate_id] = to_facts(CertificateFacts, r)
    return out


async def load_certificates_of(session: AsyncSession, cadre_ids: Iterable[str]) -> dict[str, list[CertificateFacts]]:
    out: dict[str, list[CertificateFacts]] = defaultdict(list)
    for part in chunks(sorted(set(cadre_ids))):
        rows = await session.exec(select(CertificateRow).where(col(CertificateRow.cadre_id).in_(part)))
        for r in rows:
            out[r.cadre_id].append(to_facts(CertificateFacts, r))
    return out


async def save_cadres(session: AsyncSession, facts: Iterable[CadreFacts]) -> None:
    await upsert(session, CadreRow, [asdict(f) for f in facts], ["cadre_id"])


async def save_posyandu(session: AsyncSession, facts: Iterable[PosyanduFacts]) -> None:
    await upsert(session, PosyanduRow, [asdict(f) for f in facts], ["posyandu_id"])


async def save_certificates(session: AsyncSession, facts: Iterable[CertificateFacts]) -> None:
    await upsert(session, CertificateRow, [asdict(f) for f in facts], ["certificate_id"])


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
    await upsert(session, PaymentDetailsRow, [asdict(d) for d in latest.values()], ["cadre_id"])


# --------------------------------------------------------------------------- policies, periods, decisions


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


async def policy_rows(session: AsyncSession) -> list[PolicyVersionRow]:
    rows = await session.execute(select(PolicyVersionRow).order_by(col(PolicyVersionRow.sequence)))
    return list(rows.scalars())


async def policies(session: AsyncSession) -> list[Policy]:
    return [policy_of(r) for r in await policy_rows(session)]


async def policy_version(session: AsyncSession, version: str) -> Policy | None:
    row = await session.get(PolicyVersionRow, version)
    return policy_of(row) if row else None


async def period_row(session: AsyncSession, period: str, *, lock: bool = False) -> PeriodRow:
    """The period's row; a period nobody touched yet is open (the row is created then)."""
    stmt = select(PeriodRow).where(col(PeriodRow.period) == period)
    if lock:
        stmt = stmt.with_for_update()
    row = (await session.execute(stmt)).scalar_one_or_none()
    if row is None:
        row = PeriodRow(period=period, state=PeriodState.OPEN.value)
        session.add(row)
    return row


def decision_of(row: Any) -> Decision:
    values = {f.name: getattr(row, f.name) for f in fields(Decision)}
    values["eligible"] = bool(values["eligible"])
    return Decision(**values)


async def decision(session: AsyncSession, period: str, cadre_id: str) -> Decision | None:
    row = await session.get(DecisionRow, (period, cadre_id))
    return decision_of(row) if row else None
