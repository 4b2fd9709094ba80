"""HTTP routes of the incentives service: parse, authorise, call a handler, shape the answer."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text
from sqlmodel import col, select

from incentives import handlers
from incentives.adapters import queries, store
from incentives.adapters.calculation import collate, dialect_of
from incentives.adapters.tables import AdjustmentRow, DecisionRow, PaymentBatchRow, PeriodRow, PolicyVersionRow
from incentives.domain.periods import Period, PeriodState, allowed_actions
from incentives.domain.policy import RULES
from incentives.domain.rules import explain
from incentives.entrypoints.schemas import (
    AdjustmentPublic,
    ApproveRequest,
    AreaTotals,
    BatchPublic,
    DecisionPage,
    EligibilityAnswer,
    FairnessReport,
    PeriodPublic,
    PolicyCreate,
    PolicyPublic,
    ResultsRecorded,
)
from sikader_shared.auth import require
from sikader_shared.crypto import FieldCipher
from sikader_shared.errors import Invalid, NotFound
from sikader_shared.events import PERIOD_PATTERN
from sikader_shared.http import execute_write, log_pii_read
from sikader_shared.uow import Actor, UnitOfWork

router = APIRouter(tags=["incentives"])

PeriodPath = Path(pattern=PERIOD_PATTERN, description="Calendar month in WITA, 'YYYY-MM'", examples=["2026-11"])
PeriodQuery = Query(default=None, pattern=PERIOD_PATTERN, description="YYYY-MM (WITA); default: the current month")
RESULT_FILE_EXAMPLE = (
    "reference,result,failure_reason,paid_on\n"
    "INC-2026-11-B01-000001,paid,,2026-12-04\n"
    "INC-2026-11-B01-000002,failed,account closed,\n"
)


def _runtime(request: Request) -> Any:
    return request.app.state.runtime


# --------------------------------------------------------------------------- policies


@router.get("/policies", response_model=list[PolicyPublic])
async def list_policies(request: Request, _: Actor = Depends(require("incentives:read"))) -> list[dict[str, Any]]:
    """Every policy version, oldest first (versions are never edited)."""
    async with _runtime(request).sessions() as session:
        return [handlers.policy_dict(r) for r in await store.policy_rows(session)]


@router.get("/policies/{version}", response_model=PolicyPublic)
async def get_policy(version: str, request: Request, _: Actor = Depends(require("incentives:read"))) -> dict[str, Any]:
    async with _runtime(request).sessions() as session:
        row = await session.get(PolicyVersionRow, version)
        if row is None:
            raise NotFound(f"no policy version {version}")
        return handlers.policy_dict(row)


@router.post("/policies", response_model=PolicyPublic, status_code=201)
async def create_policy(
    body: PolicyCreate, request: Request, actor: Actor = Depends(require("incentives:policy"))
) -> JSONResponse:
    """A new policy version, effective from a period (refused for a period already approved)."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        row = await handlers.create_policy(
            uow,
            effective_from=body.effective_from,
            amounts=body.amounts,
            requirements=body.requirements,
            cap_per_posyandu=body.cap_per_posyandu,
            budget_ceiling=body.budget_ceiling,
            note=body.note,
        )
        return handlers.policy_dict(row)

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump())


# --------------------------------------------------------------------------- eligibility


@router.get("/eligibility/{cadre_id}", response_model=EligibilityAnswer)
async def get_eligibility(
    cadre_id: str, request: Request, period: str | None = PeriodQuery, _: Actor = Depends(require("incentives:read"))
) -> dict[str, Any]:
    """Whether the cadre is to be paid for the period and why: one reason per rule, in
    English and Indonesian, with the ids of the events behind each fact."""
    async with _runtime(request).uow() as uow:
        return await handlers.eligibility(uow, cadre_id, period)


# --------------------------------------------------------------------------- periods


async def _period_public(session: Any, period: str) -> dict[str, Any]:
    row = await session.get(PeriodRow, period)
    if row is None:
        row = PeriodRow(period=period, state=PeriodState.OPEN.value)
    counts = await session.execute(
        text("SELECT status, COUNT(*) FROM payments WHERE period = :p GROUP BY status"), {"p": period}
    )
    return {
        **handlers.period_public(row),
        "allowed_actions": allowed_actions(PeriodState(row.state)),
        "payments": {s: int(n) for s, n in counts.all()},
    }


@router.get("/periods", response_model=list[PeriodPublic])
async def list_periods(request: Request, _: Actor = Depends(require("incentives:read"))) -> list[dict[str, Any]]:
    """Periods that were calculated (or touched), newest first, and the current month."""
    runtime = _runtime(request)
    async with runtime.sessions() as session:
        names = set((await session.execute(select(PeriodRow.period))).scalars())
        names.add(str(Period.of(runtime.clock.now())))
        return [await _period_public(session, p) for p in sorted(names, reverse=True)]


@router.get("/periods/{period}", response_model=PeriodPublic)
async def get_period(
    request: Request, period: str = PeriodPath, _: Actor = Depends(require("incentives:read"))
) -> dict[str, Any]:
    """State, decision-set hash, totals and the actions the state allows."""
    async with _runtime(request).sessions() as session:
        return await _period_public(session, period)


async def _answer_period(uow: UnitOfWork, period: str) -> dict[str, Any]:
    await uow.session.flush()
    return await _period_public(uow.session, period)


@router.post("/periods/{period}/calculate", response_model=PeriodPublic)
async def calculate_period(
    request: Request, period: str = PeriodPath, actor: Actor = Depends(require("incentives:calculate"))
) -> JSONResponse:
    """Decides every cadre (set-based); may be repeated until approved (the latest counts)."""
    lookback = _runtime(request).settings.correction_lookback_periods

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await handlers.calculate(uow, period, correction_lookback=lookback)
        return await _answer_period(uow, period)

    return await execute_write(request, actor, op, body={"period": period})


@router.post("/periods/{period}/approve", response_model=PeriodPublic)
async def approve_period(
    request: Request,
    period: str = PeriodPath,
    body: ApproveRequest = Body(default_factory=ApproveRequest),
    actor: Actor = Depends(require("incentives:approve")),
) -> JSONResponse:
    """Approves the calculated decisions: never by the key, nor the OPD client, that calculated."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await handlers.approve(uow, period, body.decision_hash)
        return await _answer_period(uow, period)

    return await execute_write(request, actor, op, body={"period": period, **body.model_dump()})


@router.post("/periods/{period}/close", response_model=PeriodPublic)
async def close_period(
    request: Request, period: str = PeriodPath, actor: Actor = Depends(require("incentives:pay"))
) -> JSONResponse:
    """Closes a paid period; payments still failed are carried into the next calculation."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        await handlers.close(uow, period)
        return await _answer_period(uow, period)

    return await execute_write(request, actor, op, body={"period": period})


async def _calculated(session: Any, period: str) -> PeriodRow:
    row = await session.get(PeriodRow, period)
    if row is None or row.state == PeriodState.OPEN.value or not row.policy_version:
        raise NotFound(f"period {period} has not been calculated")
    return row


@router.get("/periods/{period}/totals", response_model=list[AreaTotals])
async def period_totals(
    request: Request,
    period: str = PeriodPath,
    by: Literal["kecamatan", "kelurahan", "posyandu"] = Query("kecamatan"),
    _: Actor = Depends(require("incentives:read")),
) -> list[dict[str, Any]]:
    """Review: cadres, eligible cadres and amounts per kecamatan, kelurahan or Posyandu."""
    async with _runtime(request).sessions() as session:
        await _calculated(session, period)
        return await queries.totals(session, period, by)


@router.get("/periods/{period}/decisions", response_model=DecisionPage)
async def period_decisions(
    request: Request,
    period: str = PeriodPath,
    eligible: bool | None = Query(None),
    posyandu_id: str | None = Query(None),
    kelurahan_code: str | None = Query(None),
    after: str | None = Query(None, description="Cadre id to continue after (from next_after)"),
    limit: int = Query(100, ge=1, le=500),
    _: Actor = Depends(require("incentives:read")),
) -> dict[str, Any]:
    """Review: the decisions of a calculated period with their reasons, by cadre id."""
    async with _runtime(request).sessions() as session:
        row = await _calculated(session, period)
        policy = await store.policy_version(session, row.policy_version or "")
        assert policy is not None
        stmt = select(DecisionRow).where(col(DecisionRow.period) == period)
        if eligible is not None:
            stmt = stmt.where(col(DecisionRow.eligible) == eligible)
        if posyandu_id is not None:
            stmt = stmt.where(col(DecisionRow.posyandu_id) == posyandu_id)
        if kelurahan_code is not None:
            stmt = stmt.where(col(DecisionRow.kelurahan_code) == kelurahan_code)
        if after is not None:
            stmt = stmt.where(col(DecisionRow.cadre_id) > after)
        c = collate(dialect_of(session))
        rows = list((await session.execute(stmt.order_by(text(f"cadre_id{c}")).limit(limit + 1))).scalars())
        p = Period.parse(period)
        items = []
        for r in rows[:limit]:
            d = store.decision_of(r)
            items.append(
                {
                    "cadre_id": d.cadre_id,
                    "posyandu_id": d.posyandu_id,
                    "kelurahan_code": d.kelurahan_code,
                    "kecamatan_code": d.kecamatan_code,
                    "eligible": d.eligible,
                    "amount": d.amount,
                    "level": d.level_used,
                    "posyandu_rank": d.posyandu_rank,
                    "failed_rules": [rule for rule in RULES if d.failed(rule)],
                    "reasons": [
                        {
                            "rule": x.rule,
                            "passed": x.passed,
                            "fact": x.fact_en,
                            "text_en": x.fact_en,
                            "text_id": x.fact_id,
                            "source_event_ids": list(x.source_event_ids),
                        }
                        for x in explain(d, p, policy, budget_applied=True)
                    ],
                }
            )
        return {
            "period": period,
            "policy_version": policy.version,
            "items": items,
            "next_after": rows[limit - 1].cadre_id if len(rows) > limit else None,
        }


@router.get("/periods/{period}/adjustments", response_model=list[AdjustmentPublic])
async def period_adjustments(
    request: Request, period: str = PeriodPath, _: Actor = Depends(require("incentives:read"))
) -> list[dict[str, Any]]:
    """Corrections of approved periods (late facts) and failed payments carried over, made in this period."""
    async with _runtime(request).sessions() as session:
        rows = await session.execute(
            select(AdjustmentRow).where(col(AdjustmentRow.in_period) == period).order_by(col(AdjustmentRow.id))
        )
        return [
            {
                "in_period": a.in_period,
                "for_period": a.for_period,
                "cadre_id": a.cadre_id,
                "kind": a.kind,
                "delta": a.delta,
                "previous_amount": a.previous_amount,
                "new_amount": a.new_amount,
                "note": a.note,
            }
            for a in rows.scalars()
        ]


@router.get("/periods/{period}/fairness", response_model=FairnessReport)
async def period_fairness(
    request: Request, period: str = PeriodPath, _: Actor = Depends(require("incentives:read"))
) -> dict[str, Any]:
    """For the council: paid cadres and amounts per kecamatan and kelurahan, coverage of
    Posyandu per kelurahan, and the Posyandu left out with why."""
    async with _runtime(request).sessions() as session:
        await _calculated(session, period)
        return await queries.fairness(session, period)


# --------------------------------------------------------------------------- payments


def _batch_public(b: PaymentBatchRow) -> dict[str, Any]:
    return {
        "batch_id": b.batch_id,
        "period": b.period,
        "number": b.number,
        "lines": b.lines,
        "total_amount": b.total_amount,
        "without_details": b.without_details,
        "created_at": b.created_at,
        "created_by": b.created_by,
        "file": f"/periods/{b.period}/payment-batches/{b.batch_id}/file",
    }


@router.post("/periods/{period}/payment-batches", response_model=BatchPublic, status_code=201)
async def create_payment_batch(
    request: Request, period: str = PeriodPath, actor: Actor = Depends(require("incentives:pay"))
) -> JSONResponse:
    """A payment batch of every payment not yet paid (first time, or failed before)."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        return _batch_public(await handlers.export_batch(uow, period))

    return await execute_write(request, actor, op, status_code=201, body={"period": period})


@router.get("/periods/{period}/payment-batches", response_model=list[BatchPublic])
async def list_payment_batches(
    request: Request, period: str = PeriodPath, _: Actor = Depends(require("incentives:pay"))
) -> list[dict[str, Any]]:
    async with _runtime(request).sessions() as session:
        rows = await session.execute(
            select(PaymentBatchRow).where(col(PaymentBatchRow.period) == period).order_by(col(PaymentBatchRow.number))
        )
        return [_batch_public(b) for b in rows.scalars()]


@router.get(
    "/periods/{period}/payment-batches/{batch_id}/file",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {
                    "example": "reference,period,cadre_id,cadre_name,method,bank,account_number,account_holder,amount\n"
                }
            }
        }
    },
)
async def payment_batch_file(
    batch_id: str, request: Request, period: str = PeriodPath, actor: Actor = Depends(require("incentives:pay"))
) -> Response:
    """The CSV payment file for the bank (cadre, bank or e-wallet, account, amount, period,
    reference). It holds account numbers: every download is recorded in the PII read log."""
    runtime = _runtime(request)
    cipher = FieldCipher(runtime.settings.payment_key)
    async with runtime.uow(actor=actor) as uow:
        content = await handlers.batch_file(uow, period, batch_id, cipher)
        log_pii_read(uow, request, "payment_batch", batch_id, ["bank", "account_number", "account_holder"])
        await uow.commit()
    return Response(
        content,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="incentives-{period}-{batch_id}.csv"'},
    )


@router.post(
    "/periods/{period}/payment-batches/{batch_id}/results",
    response_model=ResultsRecorded,
    openapi_extra={
        "requestBody": {
            "required": True,
            "description": "The bank's result file: reference,result,failure_reason,paid_on (header required)",
            "content": {"text/csv": {"schema": {"type": "string"}, "example": RESULT_FILE_EXAMPLE}},
        }
    },
)
async def record_payment_results(
    batch_id: str, request: Request, period: str = PeriodPath, actor: Actor = Depends(require("incentives:pay"))
) -> JSONResponse:
    """Records the bank's result per line (paid, or failed with the bank's reason). The whole
    file is checked first: a wrong line changes nothing. Failed payments go into a later batch."""
    raw = await request.body()
    try:
        csv_text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("the result file must be UTF-8 text", field="body") from exc

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        return await handlers.record_results(uow, period, batch_id, csv_text)

    return await execute_write(request, actor, op, body={"period": period, "batch_id": batch_id, "csv": csv_text})
