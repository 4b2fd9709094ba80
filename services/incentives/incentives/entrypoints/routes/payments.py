"""Payment batches of an approved period: created, listed, their CSV file for the bank, and
the bank's results."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from incentives.config import ConfigDep
from incentives.entrypoints.schemas import PaymentBatchPublic, PeriodPath, ResultsRecorded
from incentives.handlers import payments
from sikader_shared.crypto import require_cipher
from sikader_shared.deps import Payer, SessionDep, UowFactoryDep
from sikader_shared.errors import Invalid
from sikader_shared.http import execute_write, log_pii_read
from sikader_shared.paging import Page, paging, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["incentives"])

BatchPage = Annotated[Page, Depends(paging(100, 1000))]
RESULT_FILE_EXAMPLE = (
    "reference,result,failure_reason,paid_on\n"
    "INC-2026-11-B01-000001,paid,,2026-12-04\n"
    "INC-2026-11-B01-000002,failed,account closed,\n"
)
PAYMENT_FILE_EXAMPLE = "reference,period,cadre_id,cadre_name,method,bank,account_number,account_holder,amount\n"


@router.post("/periods/{period}/payment-batches", response_model=PaymentBatchPublic, status_code=201)
async def create_payment_batch(request: Request, actor: Payer, period: str = PeriodPath) -> JSONResponse:
    """A payment batch of every payment not yet paid (first time, or failed before)."""

    async def op(uow: UnitOfWork) -> PaymentBatchPublic:
        return PaymentBatchPublic.model_validate(await payments.export_batch(uow, period))

    return await execute_write(request, actor, op, status_code=201, body={"period": period})


@router.get("/periods/{period}/payment-batches", response_model=list[PaymentBatchPublic])
async def list_payment_batches(
    request: Request, response: Response, session: SessionDep, _: Payer, page: BatchPage, period: str = PeriodPath
) -> list[PaymentBatchPublic]:
    rows = await payments.list_batches(session, period, page.after_int(2**31 - 1), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda b: [b.number])
    set_next_link(request, response, cursor)
    return [PaymentBatchPublic.model_validate(b) for b in rows]


@router.get(
    "/periods/{period}/payment-batches/{batch_id}/file",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"example": PAYMENT_FILE_EXAMPLE}}}},
)
async def payment_batch_file(
    batch_id: str,
    request: Request,
    config: ConfigDep,
    new_uow: UowFactoryDep,
    actor: Payer,
    period: str = PeriodPath,
) -> Response:
    """The CSV payment file for the bank (cadre, bank or e-wallet, account, amount, period,
    reference). It holds account numbers: every download is recorded in the PII read log."""
    cipher = require_cipher(config.payment_cipher, "payment")
    async with new_uow(actor) as uow:
        content = await payments.batch_file(uow, period, batch_id, cipher)
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
    batch_id: str, request: Request, actor: Payer, period: str = PeriodPath
) -> JSONResponse:
    """Records the bank's result per line (paid, or failed with the bank's reason). The whole
    file is checked first: a wrong line changes nothing. Failed payments go into a later batch."""
    raw = await request.body()
    try:
        csv_text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid("the result file must be UTF-8 text", field="body") from exc

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        return await payments.record_results(uow, period, batch_id, csv_text)

    return await execute_write(request, actor, op, body={"period": period, "batch_id": batch_id, "csv": csv_text})
