"""The queries of policies, periods, decisions, adjustments and payments: what the handlers
load and store (the projections of the input path are in `store`, the calculation's SQL in
`calculation`, the council's read models in `queries`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters.calculation import collate, dialect_of
from incentives.adapters.store import chunks, load_cadres, policy_of
from incentives.adapters.tables import (
    AdjustmentRow,
    DecisionRow,
    PaymentAttemptRow,
    PaymentBatchRow,
    PaymentDetailsRow,
    PaymentRow,
    PeriodRow,
    PolicyVersionRow,
)
from incentives.domain.periods import PeriodState
from incentives.domain.policy import Policy
from incentives.domain.rules import Decision

# --------------------------------------------------------------------------- policies


async def policy_page(session: AsyncSession, after_sequence: int | None, limit: int) -> list[PolicyVersionRow]:
    """Policy versions oldest first, after a sequence number (keyset)."""
    stmt = select(PolicyVersionRow).order_by(col(PolicyVersionRow.sequence)).limit(limit)
    if after_sequence is not None:
        stmt = stmt.where(col(PolicyVersionRow.sequence) > after_sequence)
    return list((await session.execute(stmt)).scalars())


async def policy_row(session: AsyncSession, version: str) -> PolicyVersionRow | None:
    return await session.get(PolicyVersionRow, version)


async def policy_version(session: AsyncSession, version: str) -> Policy | None:
    row = await session.get(PolicyVersionRow, version)
    return policy_of(row) if row else None


async def next_policy_sequence(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.coalesce(func.max(PolicyVersionRow.sequence), 0))) or 0) + 1


async def first_decided_period(session: AsyncSession, from_period: str, states: Iterable[str]) -> str | None:
    """The earliest period from `from_period` on in one of `states` (approved or later)."""
    stmt = (
        select(PeriodRow.period)
        .where(col(PeriodRow.period) >= from_period, col(PeriodRow.state).in_(list(states)))
        .order_by(col(PeriodRow.period))
    )
    return (await session.execute(stmt)).scalars().first()


# --------------------------------------------------------------------------- periods


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


async def period_names(session: AsyncSession, before: str | None, limit: int) -> list[str]:
    """Periods with a row, newest first, before a period (keyset)."""
    stmt = select(PeriodRow.period).order_by(col(PeriodRow.period).desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(col(PeriodRow.period) < before)
    return list((await session.execute(stmt)).scalars())


async def periods_before(session: AsyncSession, period: str, states: Iterable[str]) -> list[PeriodRow]:
    """Earlier periods in one of `states`, oldest first."""
    stmt = (
        select(PeriodRow)
        .where(col(PeriodRow.period) < period, col(PeriodRow.state).in_(list(states)))
        .order_by(col(PeriodRow.period))
    )
    return list((await session.execute(stmt)).scalars())


async def payment_counts(session: AsyncSession, period: str, *, carried_over_too: bool = True) -> dict[str, int]:
    """Payments of the period by status; without those carried into a later period when
    `carried_over_too` is false."""
    where = "period = :p" if carried_over_too else "period = :p AND carried_to IS NULL"
    rows: Any = await session.execute(
        text(f"SELECT status, COUNT(*) FROM payments WHERE {where} GROUP BY status"), {"p": period}
    )
    return {s: int(n) for s, n in rows.all()}


async def paid_total(session: AsyncSession, period: str) -> tuple[int, int]:
    """(cadres paid, amount paid) of a period."""
    rows: Any = await session.execute(
        text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM payments WHERE period = :p AND status = 'paid'"),
        {"p": period},
    )
    cadres, amount = rows.one()
    return int(cadres or 0), int(amount or 0)


# --------------------------------------------------------------------------- a calculation's results


@dataclass(frozen=True)
class DecisionSummary:
    cadres_evaluated: int
    eligible_cadres: int
    total_amount: int
    corrections: int


async def reset_adjustments(session: AsyncSession, period: str) -> None:
    """A recalculation starts the period's adjustments again from scratch."""
    await session.execute(text("DELETE FROM adjustments WHERE in_period = :p"), {"p": period})
    await session.execute(text("UPDATE payments SET carried_to = NULL WHERE carried_to = :p"), {"p": period})


async def decision_summary(session: AsyncSession, period: str) -> DecisionSummary:
    summary = (
        await session.execute(
            text(
                "SELECT COUNT(*), SUM(CASE WHEN eligible THEN 1 ELSE 0 END), COALESCE(SUM(amount), 0) "
                "FROM decisions WHERE period = :p"
            ),
            {"p": period},
        )
    ).one()
    corrections = await session.scalar(text("SELECT COUNT(*) FROM adjustments WHERE in_period = :p"), {"p": period})
    return DecisionSummary(int(summary[0] or 0), int(summary[1] or 0), int(summary[2] or 0), int(corrections or 0))


async def kecamatan_totals(session: AsyncSession, period: str) -> list[dict[str, Any]]:
    rows: Any = await session.execute(
        text(
            "SELECT kecamatan_code, SUM(CASE WHEN eligible THEN 1 ELSE 0 END), COALESCE(SUM(amount), 0) "
            "FROM decisions WHERE period = :p GROUP BY kecamatan_code ORDER BY kecamatan_code"
        ),
        {"p": period},
    )
    return [
        {"kecamatan_code": k, "eligible_cadres": int(n or 0), "total_amount": int(a or 0)} for k, n, a in rows.all()
    ]


def decision_of(row: Any) -> Decision:
    values = {f.name: getattr(row, f.name) for f in fields(Decision)}
    values["eligible"] = bool(values["eligible"])
    return Decision(**values)


async def decision(session: AsyncSession, period: str, cadre_id: str) -> Decision | None:
    row = await session.get(DecisionRow, (period, cadre_id))
    return decision_of(row) if row else None


async def decision_page(
    session: AsyncSession,
    period: str,
    *,
    eligible: bool | None,
    posyandu_id: str | None,
    kelurahan_code: str | None,
    after: str | None,
    limit: int,
) -> list[Decision]:
    """A period's decisions by cadre id (byte order), after a cadre id (keyset)."""
    c = collate(dialect_of(session))
    stmt = select(DecisionRow).where(col(DecisionRow.period) == period)
    if eligible is not None:
        stmt = stmt.where(col(DecisionRow.eligible) == eligible)
    if posyandu_id is not None:
        stmt = stmt.where(col(DecisionRow.posyandu_id) == posyandu_id)
    if kelurahan_code is not None:
        stmt = stmt.where(col(DecisionRow.kelurahan_code) == kelurahan_code)
    if after is not None:
        stmt = stmt.where(text(f"cadre_id{c} > :after").bindparams(after=after))
    rows: Any = await session.execute(stmt.order_by(text(f"cadre_id{c}")).limit(limit))
    return [decision_of(r) for r in rows.scalars()]


async def adjustment_page(session: AsyncSession, period: str, after_id: int | None, limit: int) -> list[AdjustmentRow]:
    """Adjustments made in a period, in the order they were made, after an id (keyset)."""
    stmt = select(AdjustmentRow).where(col(AdjustmentRow.in_period) == period)
    if after_id is not None:
        stmt = stmt.where(col(AdjustmentRow.id) > after_id)
    return list((await session.execute(stmt.order_by(col(AdjustmentRow.id)).limit(limit))).scalars())


# --------------------------------------------------------------------------- payments


async def insert_payments_owed(session: AsyncSession, period: str) -> None:
    """What each cadre is owed for an approved period: the decision plus positive corrections
    and carried-over payments."""
    await session.execute(
        text(
            "INSERT INTO payments (period, cadre_id, amount, status, attempts) "
            "SELECT CAST(:p AS VARCHAR(7)), cadre_id, SUM(amount), 'pending', 0 FROM ("
            "  SELECT cadre_id, amount FROM decisions WHERE period = :p AND eligible AND amount > 0"
            "  UNION ALL"
            "  SELECT cadre_id, delta AS amount FROM adjustments WHERE in_period = :p AND delta > 0"
            ") x GROUP BY cadre_id"
        ),
        {"p": period},
    )


async def payments_due(session: AsyncSession, period: str) -> list[PaymentRow]:
    """Payments not yet paid (first time or failed before) and not carried over, by cadre id."""
    c = collate(dialect_of(session))
    stmt = (
        select(PaymentRow)
        .where(
            col(PaymentRow.period) == period,
            col(PaymentRow.status).in_(["pending", "failed"]),
            col(PaymentRow.carried_to).is_(None),
        )
        .order_by(text(f"cadre_id{c}"))
    )
    return list((await session.execute(stmt)).scalars())


async def batch_count(session: AsyncSession, period: str) -> int:
    return int(await session.scalar(select(func.count()).where(col(PaymentBatchRow.period) == period)) or 0)


async def payment_details(session: AsyncSession, cadre_ids: Sequence[str]) -> dict[str, PaymentDetailsRow]:
    out: dict[str, PaymentDetailsRow] = {}
    for part in chunks(cadre_ids):
        rows: Any = await session.execute(select(PaymentDetailsRow).where(col(PaymentDetailsRow.cadre_id).in_(part)))
        out.update({d.cadre_id: d for d in rows.scalars()})
    return out


async def cadre_names(session: AsyncSession, cadre_ids: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in chunks(cadre_ids):
        out.update({k: v.name for k, v in (await load_cadres(session, part)).items()})
    return out


async def batch_page(session: AsyncSession, period: str, after_number: int | None, limit: int) -> list[PaymentBatchRow]:
    """A period's payment batches by number, after a number (keyset)."""
    stmt = select(PaymentBatchRow).where(col(PaymentBatchRow.period) == period)
    if after_number is not None:
        stmt = stmt.where(col(PaymentBatchRow.number) > after_number)
    return list((await session.execute(stmt.order_by(col(PaymentBatchRow.number)).limit(limit))).scalars())


async def batch_lines(session: AsyncSession, batch_id: str) -> list[PaymentAttemptRow]:
    """The lines of a batch's payment file (attempts with payment details), in order."""
    stmt = (
        select(PaymentAttemptRow)
        .where(col(PaymentAttemptRow.batch_id) == batch_id, col(PaymentAttemptRow.method).is_not(None))
        .order_by(col(PaymentAttemptRow.line))
    )
    return list((await session.execute(stmt)).scalars())


async def attempts(session: AsyncSession, references: Sequence[str]) -> dict[str, PaymentAttemptRow]:
    out: dict[str, PaymentAttemptRow] = {}
    for part in chunks(references):
        rows: Any = await session.execute(select(PaymentAttemptRow).where(col(PaymentAttemptRow.reference).in_(part)))
        out.update({a.reference: a for a in rows.scalars()})
    return out
