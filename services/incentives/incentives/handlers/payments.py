"""Payments of an approved period: batches (the bank's payment file), the bank's results,
and approved -> paid once every payment has an answer."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import repository as repo
from incentives.adapters.tables import PaymentAttemptRow, PaymentBatchRow, PaymentDetailsRow, PaymentRow, PeriodRow
from incentives.domain.payments import (
    NO_PAYMENT_DETAILS,
    BankResult,
    PaymentLine,
    ResultFileInvalid,
    parse_result_file,
    payment_file,
    payment_reference,
)
from incentives.domain.periods import Action, PeriodState
from incentives.handlers.periods import locked_period
from sikader_shared import events as ev
from sikader_shared.crypto import FieldCipher
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.uow import UnitOfWork


async def maybe_paid(uow: UnitOfWork, row: PeriodRow) -> None:
    """approved -> paid once the bank has answered for every payment (paid or failed)."""
    counts = await repo.payment_counts(uow.session, row.period, carried_over_too=False)
    if row.state == PeriodState.APPROVED.value and not counts.get("pending") and not counts.get("in_batch"):
        row.state = PeriodState.PAID.value
        row.paid_at = uow.clock.now()
        uow.session.add(row)
        uow.audit("period.paid", "period", row.period, None, {"payments": counts})


def payment_recorded(
    uow: UnitOfWork, a: PaymentAttemptRow, result: str, reason: str | None, paid_on: date | None
) -> None:
    uow.emit(
        ev.IncentivePaymentRecorded(
            cadre_id=a.cadre_id,
            period=a.period,
            payment_reference=a.reference,
            amount=a.amount,
            result=result,
            failure_reason=reason,
            paid_on=paid_on,
            batch_id=a.batch_id,
            recorded_at=uow.clock.now(),
        )
    )


# --------------------------------------------------------------------------- batches


async def export_batch(uow: UnitOfWork, period_text: str) -> PaymentBatchRow:
    """A new payment batch with every payment not yet paid (first time or failed before).
    Cadres without payment details fail at once (announced, so they can be asked for them)."""
    row = await locked_period(uow, period_text, Action.EXPORT_PAYMENTS)
    session = uow.session
    due = await repo.payments_due(session, row.period)
    if not due:
        raise Conflict(f"nothing left to pay for period {row.period}", period=row.period)
    batch = PaymentBatchRow(
        batch_id=str(uuid.uuid4()),
        period=row.period,
        number=await repo.batch_count(session, row.period) + 1,
        lines=0,
        total_amount=0,
        without_details=0,
        created_at=uow.clock.now(),
        created_by=uow.actor.client_id,
    )
    ids = [p.cadre_id for p in due]
    details = await repo.payment_details(session, ids)
    names = await repo.cadre_names(session, ids)
    for n, payment in enumerate(due, start=1):
        _add_line(uow, batch, n, payment, details.get(payment.cadre_id), names.get(payment.cadre_id, ""))
    session.add(batch)
    await session.flush()
    await maybe_paid(uow, row)
    uow.audit(
        "payment_batch.create",
        "period",
        row.period,
        None,
        {
            "batch_id": batch.batch_id,
            "lines": batch.lines,
            "total_amount": batch.total_amount,
            "without_details": batch.without_details,
        },
    )
    return batch


def _add_line(
    uow: UnitOfWork, batch: PaymentBatchRow, n: int, p: PaymentRow, d: PaymentDetailsRow | None, name: str
) -> None:
    """Line `n` of the batch: the payment with its (encrypted) details, or failed at once
    when the cadre has none on record."""
    a = PaymentAttemptRow(
        reference=payment_reference(batch.period, batch.number, n),
        batch_id=batch.batch_id,
        line=n,
        period=batch.period,
        cadre_id=p.cadre_id,
        cadre_name=name,
        amount=p.amount,
    )
    p.attempts += 1
    p.batch_id, p.reference = batch.batch_id, a.reference
    if d is None or d.method is None or d.account_number_enc is None:
        a.result, a.failure_reason, a.recorded_at = "failed", NO_PAYMENT_DETAILS, batch.created_at
        p.status, p.failure_reason = "failed", NO_PAYMENT_DETAILS
        batch.without_details += 1
        payment_recorded(uow, a, "failed", NO_PAYMENT_DETAILS, None)
    else:
        a.method, a.bank_enc = d.method, d.bank_enc
        a.account_number_enc, a.account_holder_enc = d.account_number_enc, d.account_holder_enc
        p.status, p.failure_reason = "in_batch", None
        batch.lines += 1
        batch.total_amount += p.amount
    uow.session.add(a)
    uow.session.add(p)


async def list_batches(
    session: AsyncSession, period: str, after_number: int | None, limit: int
) -> list[PaymentBatchRow]:
    """A period's batches by number (keyset)."""
    return await repo.batch_page(session, period, after_number, limit)


async def batch_file(uow: UnitOfWork, period: str, batch_id: str, cipher: FieldCipher) -> str:
    """The payment file of a batch (decrypting the details it was created with): the same
    bytes every time it is asked for."""
    batch = await uow.session.get(PaymentBatchRow, batch_id)
    if batch is None or batch.period != period:
        raise NotFound(f"no payment batch {batch_id} in period {period}")
    return payment_file(
        PaymentLine(
            reference=a.reference,
            period=a.period,
            cadre_id=a.cadre_id,
            cadre_name=a.cadre_name,
            method=a.method or "",
            bank=cipher.decrypt(a.bank_enc) or "",
            account_number=cipher.decrypt(a.account_number_enc) or "",
            account_holder=cipher.decrypt(a.account_holder_enc) or "",
            amount=a.amount,
        )
        for a in await repo.batch_lines(uow.session, batch_id)
    )


# --------------------------------------------------------------------------- the bank's results


async def record_results(uow: UnitOfWork, period_text: str, batch_id: str, csv_text: str) -> dict[str, Any]:
    """The bank's result file: each line paid or failed (with the bank's reason). Checked
    completely before anything changes."""
    row = await locked_period(uow, period_text, Action.RECORD_RESULTS)
    session = uow.session
    batch = await session.get(PaymentBatchRow, batch_id)
    if batch is None or batch.period != row.period:
        raise NotFound(f"no payment batch {batch_id} in period {row.period}")
    try:
        results = parse_result_file(csv_text)
    except ResultFileInvalid as exc:
        raise Invalid("the result file is not valid", errors=exc.errors) from exc
    todo = _results_to_record(results, batch_id, await repo.attempts(session, [r.reference for r in results]))
    now = uow.clock.now()
    counts = {"paid": 0, "failed": 0, "already_recorded": len(results) - len(todo)}
    for r, a in todo:
        a.result, a.failure_reason, a.paid_on, a.recorded_at = r.result, r.failure_reason, r.paid_on, now
        session.add(a)
        p = await session.get(PaymentRow, (a.period, a.cadre_id))
        if p is not None and p.reference == a.reference:
            p.status, p.failure_reason, p.paid_on = r.result, r.failure_reason, r.paid_on
            session.add(p)
        counts[r.result] += 1
        payment_recorded(uow, a, r.result, r.failure_reason, r.paid_on)
    await session.flush()
    await maybe_paid(uow, row)
    uow.audit("payment_results.record", "period", row.period, None, {"batch_id": batch_id, **counts})
    return {"period": row.period, "batch_id": batch_id, **counts, "state": row.state}


def _results_to_record(
    results: list[BankResult], batch_id: str, attempts: dict[str, PaymentAttemptRow]
) -> list[tuple[BankResult, PaymentAttemptRow]]:
    """The results not recorded yet; refused whole when a line is not of this batch or
    contradicts a result already recorded (the same result again is fine)."""
    errors: list[dict[str, object]] = []
    todo = []
    for r in results:
        a = attempts.get(r.reference)
        if a is None or a.batch_id != batch_id or a.method is None:
            errors.append({"line": r.line, "field": "reference", "msg": f"{r.reference} is not a line of this batch"})
        elif a.result is not None and a.result != r.result:
            errors.append(
                {"line": r.line, "field": "result", "msg": f"{r.reference} was already recorded as {a.result}"}
            )
        elif a.result is None:
            todo.append((r, a))
    if errors:
        raise Conflict("the result file contradicts the batch; nothing was recorded", errors=errors)
    return todo
