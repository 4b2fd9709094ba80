"""Sertifikasi: certified cadres per level and kecamatan, certificates expiring within
30/60/90 days, a training's attendance, an assessment, a revocation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.domain.certification import window
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
from console.handlers import certification
from console.handlers.common import Refused
from sikader_shared.clock import WITA

router = APIRouter(tags=["pages"], include_in_schema=False)


async def _done(request: Request, current: FormChecked, key: str, here: str, refused: Refused | None) -> Response:
    if refused is None:
        return await flash_and_redirect(request, current, "ok", tr(request, key), here)
    kind = "forbidden" if refused.status == 403 else "refused"
    return await flash_and_redirect(request, current, "error", tr(request, kind, detail=refused.detail), here)


@router.get("/sertifikasi", response_class=HTMLResponse)
async def overview(
    request: Request, current: SignedIn, client: ClientDep, within: Annotated[int | None, Query()] = None
) -> Response:
    days = window(within)
    page = await certification.overview(client, current.caller, days, language(request))
    visitor = current.visitor
    context = {"page": page, "within": days, "can_revoke": visitor.can("certification:revoke")}
    return render(request, "sertifikasi.html", context)


@router.get("/sertifikasi/pelatihan/{training_id}", response_class=HTMLResponse)
async def training(request: Request, training_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    page = await certification.training(client, current.caller, training_id)
    can = current.visitor.can("certification:train")
    return render(request, "sertifikasi_pelatihan.html", {"page": page, "tr": page.training, "can_train": can})


@router.post("/sertifikasi/pelatihan/{training_id}")
async def complete(
    request: Request,
    training_id: RecordId,
    current: FormChecked,
    client: ClientDep,
    attended: Annotated[list[str], Form(max_length=500)] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    here = f"/sertifikasi/pelatihan/{training_id}"
    try:
        await certification.complete_training(client, current.caller, training_id, attended)
    except Refused as refused:
        return await _done(request, current, "", here, refused)
    return await _done(request, current, "attendance_saved", here, None)


@router.get("/sertifikasi/penilaian", response_class=HTMLResponse)
async def assessment_form(
    request: Request,
    current: SignedIn,
    client: ClientDep,
    cadre_id: Annotated[str, Query(max_length=64, pattern=r"^[0-9A-Za-z_-]*$")] = "",
) -> Response:
    groups = await certification.skills(client, current.caller)
    today = datetime.now(WITA).date().isoformat()
    can = current.visitor.can("certification:assess")
    context = {"groups": groups, "cadre_id": cadre_id, "today": today, "can_assess": can}
    return render(request, "sertifikasi_penilaian.html", context)


@router.post("/sertifikasi/penilaian")
async def assess(
    request: Request,
    current: FormChecked,
    client: ClientDep,
    cadre_id: Annotated[str, Form(max_length=64)],
    assessor: Annotated[str, Form(max_length=200)],
    assessed_on: Annotated[str, Form(max_length=10)],
    passed: Annotated[list[str], Form(max_length=25)] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    here = (
        f"/sertifikasi/penilaian?cadre_id={cadre_id}"
        if cadre_id.replace("-", "").isalnum()
        else "/sertifikasi/penilaian"
    )
    try:
        outcome = await certification.assess(client, current.caller, cadre_id, assessor, assessed_on, passed)
    except Refused as refused:
        return await _done(request, current, "", here, refused)
    level = outcome.get("level") or "-"
    message = tr(request, "assessment_saved", level=level)
    return await flash_and_redirect(request, current, "ok", message, f"/kader/{cadre_id.strip()}")


@router.post("/sertifikasi/sertifikat/{certificate_id}/cabut")
async def revoke(
    request: Request,
    certificate_id: RecordId,
    current: FormChecked,
    client: ClientDep,
    reason: Annotated[str, Form(max_length=500)],
    back: Annotated[str, Form(max_length=200, pattern=r"^/(sertifikasi|kader)[0-9A-Za-z/?=&_-]*$")] = "/sertifikasi",
) -> Response:
    try:
        await certification.revoke(client, current.caller, certificate_id, reason.strip())
    except Refused as refused:
        return await _done(request, current, "", back, refused)
    return await _done(request, current, "certificate_revoked", back, None)
