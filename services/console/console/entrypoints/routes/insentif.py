"""Insentif: the periods, one period (totals, fairness chart, decisions, changes since the
previous period), a cadre's amount explained (printable), and the period's actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from console.domain.incentives import approval_refusal
from console.entrypoints.web import (
    ClientDep,
    FormChecked,
    RecordId,
    SignedIn,
    flash_and_redirect,
    language,
    render,
    tr,
)
from console.handlers import incentives
from console.handlers.common import Refused

router = APIRouter(tags=["pages"], include_in_schema=False)
Period = Annotated[str, Path(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]
After = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z_-]*$")]


@router.get("/insentif", response_class=HTMLResponse)
async def periods(request: Request, current: SignedIn, client: ClientDep) -> Response:
    return render(request, "insentif.html", {"periods": await incentives.periods(client, current.caller)})


@router.get("/insentif/{period}", response_class=HTMLResponse)
async def period(
    request: Request, period: Period, current: SignedIn, client: ClientDep, after: After = None
) -> Response:
    page = await incentives.period_page(client, current.caller, period, after, language(request))
    visitor = current.visitor
    context = {"page": page, "p": page.period, "can_pay": visitor.can("incentives:pay"), "after": after}
    return render(request, "insentif_period.html", context)


@router.get("/insentif/{period}/kader/{cadre_id}", response_class=HTMLResponse)
async def explanation(
    request: Request, period: Period, cadre_id: RecordId, current: SignedIn, client: ClientDep
) -> Response:
    decision = await incentives.explanation(client, current.caller, period, cadre_id)
    return render(request, "insentif_explanation.html", {"d": decision, "period": period})


@router.post("/insentif/{period}/aksi")
async def act(
    request: Request,
    period: Period,
    current: FormChecked,
    client: ClientDep,
    action: Annotated[str, Form(pattern="^(calculate|approve|pay|close)$")],
    decision_hash: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    here = f"/insentif/{period}"
    try:
        await incentives.act(client, current.caller, period, action, decision_hash)
    except Refused as refused:
        kind = approval_refusal(refused.status, refused.detail, current.visitor.can("incentives:approve"))
        message = tr(request, "refused", detail=refused.detail)
        if action == "approve" and kind == "segregation":
            message = f"{tr(request, 'segregation')} ({refused.detail})"
        return await flash_and_redirect(request, current, "error", message, here)
    return await flash_and_redirect(request, current, "ok", tr(request, f"done_{action}"), here)


@router.get("/insentif/{period}/batch/{batch_id}.csv")
async def payment_file(period: Period, batch_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    content, disposition = await incentives.payment_file(client, current.caller, period, batch_id)
    return Response(content, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


@router.post("/insentif/{period}/batch/{batch_id}/hasil")
async def bank_results(
    request: Request,
    period: Period,
    batch_id: RecordId,
    current: FormChecked,
    client: ClientDep,
    file: Annotated[UploadFile, File()],
) -> Response:
    here = f"/insentif/{period}"
    try:
        result = await incentives.bank_results(
            client, current.caller, period, batch_id, await file.read(16 * 1024 * 1024)
        )
    except Refused as refused:
        return await flash_and_redirect(request, current, "error", tr(request, "refused", detail=refused.detail), here)
    message = tr(request, "results_recorded", paid=result.get("paid", 0), failed=result.get("failed", 0))
    return await flash_and_redirect(request, current, "ok", message, here)
