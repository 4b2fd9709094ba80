"""Verifikasi: the queue (oldest first) and the decisions: verify, reject with a reason, send
back for correction with a reason (posyandu:verify)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.entrypoints.web import ClientDep, FormChecked, RecordId, SignedIn, flash_and_redirect, language, render, tr
from console.handlers import verification
from console.handlers.common import Refused

router = APIRouter(tags=["pages"], include_in_schema=False)
Cursor = Annotated[str | None, Query(max_length=200, pattern=r"^[0-9A-Za-z_=.:-]*$")]


@router.get("/verifikasi", response_class=HTMLResponse)
async def queue(request: Request, current: SignedIn, client: ClientDep, cursor: Cursor = None) -> Response:
    page = await verification.queue(client, current.caller, cursor, language(request))
    context = {"page": page, "can_verify": current.visitor.can("posyandu:verify")}
    return render(request, "verifikasi.html", context)


@router.post("/verifikasi/{posyandu_id}")
async def decide(
    request: Request,
    posyandu_id: RecordId,
    current: FormChecked,
    client: ClientDep,
    decision: Annotated[str, Form(pattern="^(VERIFIED|REJECTED|RETURNED)$")],
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        await verification.decide(client, current.caller, posyandu_id, decision, reason)
    except Refused as refused:
        detail = tr(request, "reason_required") if refused.detail == "reason_required" else refused.detail
        key = "forbidden" if refused.status == 403 else "refused"
        return await flash_and_redirect(request, current, "error", tr(request, key, detail=detail), "/verifikasi")
    return await flash_and_redirect(request, current, "ok", tr(request, "decision_saved"), "/verifikasi")
