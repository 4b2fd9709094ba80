"""Asynchronous imports for the console's progress bar: upload the same CSV as POST
/cadres/import or /posyandu/import, get a job (202), follow its progress, read its report."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from registry.config import ConfigDep
from registry.domain.csvfiles import (
    CADRE_OPTIONAL,
    CADRE_REQUIRED,
    POSYANDU_OPTIONAL,
    POSYANDU_REQUIRED,
    Parsed,
    parse_cadres,
    parse_posyandu,
)
from registry.entrypoints.schemas import ImportJobPublic
from registry.entrypoints.uploads import CADRE_CSV_EXAMPLE, POSYANDU_CSV_EXAMPLE, csv_body, parse_csv, read_csv
from registry.handlers import import_jobs
from sikader_shared.deps import RegistryReader, RegistryWriter, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link
from sikader_shared.uow import Actor, UnitOfWork

router = APIRouter(prefix="/imports", tags=["imports"])

JobsPage = Annotated[Page, Depends(paging(50, 200))]


async def _queue(request: Request, actor: Actor, raw: bytes, kind: str, parsed: Parsed) -> JSONResponse:
    async def op(uow: UnitOfWork) -> ImportJobPublic:
        return ImportJobPublic.model_validate(import_jobs.queue_import(uow, kind, raw, parsed))

    body = {"kind": kind, "sha256": hashlib.sha256(raw).hexdigest()}
    answer = await execute_write(request, actor, op, status_code=202, body=body)
    answer.headers["Location"] = f"/imports/{json.loads(answer.body)['id']}"
    return answer


@router.post(
    "/cadres",
    status_code=202,
    response_model=ImportJobPublic,
    openapi_extra=csv_body(CADRE_CSV_EXAMPLE, CADRE_REQUIRED, CADRE_OPTIONAL),
)
async def import_cadres(request: Request, actor: RegistryWriter, config: ConfigDep) -> JSONResponse:
    """The body of POST /cadres/import, run in the background: 202 with a job (and its
    `Location`). A file that is not a CSV of these columns: 422 at once, no job. The rows
    are imported in chunks, each committed with its events; the report is the synchronous
    import's."""
    raw = await read_csv(request, config)
    return await _queue(request, actor, raw, "cadres", await parse_csv(parse_cadres, raw, config))


@router.post(
    "/posyandu",
    status_code=202,
    response_model=ImportJobPublic,
    openapi_extra=csv_body(POSYANDU_CSV_EXAMPLE, POSYANDU_REQUIRED, POSYANDU_OPTIONAL),
)
async def import_posyandu(request: Request, actor: RegistryWriter, config: ConfigDep) -> JSONResponse:
    """The body of POST /posyandu/import, run in the background (see POST /imports/cadres)."""
    raw = await read_csv(request, config)
    return await _queue(request, actor, raw, "posyandu", await parse_csv(parse_posyandu, raw, config))


@router.get("", response_model=list[ImportJobPublic])
async def list_imports(
    request: Request, response: Response, session: SessionDep, actor: RegistryReader, page: JobsPage
) -> list[ImportJobPublic]:
    """The calling OPD client's import jobs, newest first (paged)."""
    rows, cursor = await import_jobs.list_jobs(session, actor.client_id, page)
    set_next_link(request, response, cursor)
    return [ImportJobPublic.model_validate(j) for j in rows]


@router.get("/{job_id}", response_model=ImportJobPublic)
async def get_import(job_id: str, session: SessionDep, actor: RegistryReader) -> ImportJobPublic:
    """A job of the calling OPD client: queued / running / done / failed, rows_total,
    rows_done, percent; when done, the per-row report; when failed, the reason."""
    return ImportJobPublic.model_validate(await import_jobs.find_job(session, job_id, actor.client_id))
