"""Kader: search, a cadre's page, certificate PDFs (proxied with the person's key), and the
CSV import with its progress bar and per-row report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response

from console.domain.cadres import progress_json, reasons
from console.entrypoints.web import (
    ClientDep,
    FormChecked,
    RecordId,
    SignedIn,
    flash_and_redirect,
    language,
    render,
    see_other,
    tr,
)
from console.handlers import cadres
from console.handlers.common import Refused
from sikader_shared.clock import WITA

router = APIRouter(tags=["pages"], include_in_schema=False)
Code = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z._-]*$")]
Cursor = Annotated[str | None, Query(max_length=200, pattern=r"^[0-9A-Za-z_=.:-]*$")]
MAX_UPLOAD = 64 * 1024 * 1024


@router.get("/kader", response_class=HTMLResponse)
async def search(
    request: Request,
    current: SignedIn,
    client: ClientDep,
    name: Annotated[str | None, Query(max_length=100)] = None,
    posyandu_id: Code = None,
    kelurahan_code: Code = None,
    status: Annotated[str | None, Query(pattern="^(active|inactive)?$")] = None,
    cursor: Cursor = None,
) -> Response:
    filters = {"name": name or "", "posyandu_id": posyandu_id or "", "kelurahan_code": kelurahan_code or "",
               "status": status or ""}  # fmt: skip
    page = await cadres.search(client, current.caller, filters, cursor)
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    names = {k["code"]: k["name"] for k in page.kelurahan}
    context = {"page": page, "filters": filters, "filter_query": query, "kelurahan_names": names}
    return render(request, "kader.html", context)


@router.get("/kader/impor", response_class=HTMLResponse)
async def import_form(request: Request, current: SignedIn, client: ClientDep) -> Response:
    jobs = await cadres.recent_imports(client, current.caller)
    return render(request, "kader_impor.html", {"jobs": jobs, "can_write": current.visitor.can("registry:write")})


@router.post("/kader/impor")
async def start_import(
    request: Request,
    current: FormChecked,
    client: ClientDep,
    kind: Annotated[str, Form(pattern="^(cadres|posyandu)$")],
    file: Annotated[UploadFile, File()],
) -> Response:
    content = await file.read(MAX_UPLOAD + 1)
    try:
        if len(content) > MAX_UPLOAD:
            raise Refused(413, "the file is too large: split it")
        job_id = await cadres.start_import(client, current.caller, kind, content)
    except Refused as refused:
        return await flash_and_redirect(
            request, current, "error", tr(request, "refused", detail=refused.detail), "/kader/impor"
        )
    return see_other(f"/kader/impor/{job_id}")


@router.get("/kader/impor/{job_id}.json")
async def import_status(job_id: RecordId, current: SignedIn, client: ClientDep) -> JSONResponse:
    """Polled by the progress bar's script."""
    return JSONResponse(progress_json(await cadres.import_job(client, current.caller, job_id)))


@router.get("/kader/impor/{job_id}", response_class=HTMLResponse)
async def import_page(request: Request, job_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    job = await cadres.import_job(client, current.caller, job_id)
    return render(request, "kader_impor_job.html", {"job": job})


@router.get("/kader/sertifikat/{number:path}.pdf")
async def certificate_pdf(number: str, current: SignedIn, client: ClientDep) -> Response:
    content, disposition = await cadres.certificate_pdf(client, current.caller, number)
    return Response(content, media_type="application/pdf", headers={"Content-Disposition": disposition})


@router.get("/kader/{cadre_id}", response_class=HTMLResponse)
async def cadre(request: Request, cadre_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    period = datetime.now(WITA).strftime("%Y-%m")
    lang = language(request)
    page = await cadres.cadre_page(client, current.caller, cadre_id, period, lang)
    why = reasons(page.eligibility.data, lang) if isinstance(page.eligibility.data, dict) else []
    can_revoke = current.visitor.can("certification:revoke")
    return render(
        request, "kader_detail.html", {"page": page, "period": period, "reasons": why, "can_revoke": can_revoke}
    )
