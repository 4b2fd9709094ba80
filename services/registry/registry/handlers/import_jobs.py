"""Asynchronous imports: a job holds the uploaded file; the worker (entrypoints/jobs.py) runs
it in chunks through the synchronous import's handlers (handlers/imports.py: same rules,
same report). A chunk's rows, events and audit entries commit together with the job's
progress, so after a restart the job resumes after the last committed chunk and no row is
imported twice."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters import repository
from registry.adapters.tables import ImportJobRow
from registry.config import RegistryConfig
from registry.domain.csvfiles import Parsed, parse_cadres, parse_posyandu
from registry.handlers import imports
from sikader_shared.errors import NotFound
from sikader_shared.events import Event
from sikader_shared.inbox import Handler
from sikader_shared.paging import Page, split_page
from sikader_shared.uow import UnitOfWork

# Imports are commands only.
EVENT_HANDLERS: dict[type[Event], Handler] = {}

KINDS: dict[str, Callable[[bytes, int], Parsed]] = {"cadres": parse_cadres, "posyandu": parse_posyandu}
IMPORTERS: dict[str, Callable[[UnitOfWork, RegistryConfig, Parsed], Awaitable[dict[str, Any]]]] = {
    "cadres": imports.import_cadres,
    "posyandu": imports.import_posyandu,
}
EMPTY_REPORT: dict[str, Any] = {
    "rows": 0,
    "registered": 0,
    "already_registered": 0,
    "rejected": 0,
    "registered_ids": [],
    "existing": [],
    "errors": [],
}


@dataclass
class ParsedFile:
    """A job's file parsed once per worker process, and its data lines in file order (every
    data line is either a good row or has errors)."""

    parsed: Parsed
    lines: list[int]

    @classmethod
    def of(cls, parsed: Parsed) -> ParsedFile:
        lines = sorted({r.line for r in parsed.rows} | {e.line for e in parsed.errors})
        return cls(parsed, lines)

    def chunk(self, start: int, size: int) -> Parsed:
        wanted = set(self.lines[start : start + size])
        return Parsed(
            rows=[r for r in self.parsed.rows if r.line in wanted],
            errors=[e for e in self.parsed.errors if e.line in wanted],
            total=len(wanted),
        )


def queue_import(uow: UnitOfWork, kind: str, raw: bytes, parsed: Parsed) -> ImportJobRow:
    """A job for a file already parsed once (a file that is not a CSV of the columns was
    refused before): queued, with its number of data rows."""
    job = ImportJobRow(
        id=str(uuid.uuid4()),
        kind=kind,
        client_id=uow.actor.client_id,
        key_id=uow.actor.key_id,
        status="queued",
        rows_total=parsed.total,
        rows_done=0,
        content=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        report=dict(EMPTY_REPORT),
        correlation_id=uow.correlation_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(job)
    uow.audit("import.queue", "import_job", job.id, None, {"kind": kind, "rows_total": job.rows_total})
    return job


def _merge(report: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    out = dict(report)
    for key in ("rows", "registered", "already_registered", "rejected"):
        out[key] = report[key] + part[key]
    for key in ("registered_ids", "existing", "errors"):
        out[key] = [*report[key], *part[key]]
    return out


async def run_chunk(uow: UnitOfWork, cfg: RegistryConfig, job_id: str, file: ParsedFile) -> str | None:
    """Import the job's next chunk as the uploading client, with the job's progress in the
    same transaction; the job's status after it. None when there was nothing to do (the job
    is finished, or another worker holds it)."""
    job = await repository.lock_import_job(uow.session, job_id)
    if job is None or job.status not in ("queued", "running"):
        return None
    now = uow.clock.now()
    if job.status == "queued":
        job.status, job.started_at = "running", now
    part = await IMPORTERS[job.kind](uow, cfg, file.chunk(job.rows_done, cfg.import_chunk_rows))
    job.report = _merge(job.report, part)
    job.rows_done += part["rows"]
    if job.rows_done >= job.rows_total:
        _finish(uow, job, "done", None)
    uow.session.add(job)
    return job.status


def _finish(uow: UnitOfWork, job: ImportJobRow, status: str, reason: str | None) -> None:
    """Done or failed: the file goes (it holds NIKs and contact details), the report stays."""
    job.status, job.reason, job.finished_at, job.content = status, reason, uow.clock.now(), b""
    after = {"status": status, "rows_done": job.rows_done, "reason": reason}
    uow.audit(f"import.{status}", "import_job", job.id, {"status": "running"}, after)


async def fail(uow: UnitOfWork, job_id: str, reason: str) -> None:
    job = await repository.lock_import_job(uow.session, job_id)
    if job is not None and job.status in ("queued", "running"):
        _finish(uow, job, "failed", reason[:500])
        uow.session.add(job)


async def next_job(session: AsyncSession) -> ImportJobRow | None:
    """The oldest job still to run (queued, or running when a worker stopped midway)."""
    return await repository.next_import_job(session)


def parse_job(job: ImportJobRow, cfg: RegistryConfig) -> ParsedFile:
    return ParsedFile.of(KINDS[job.kind](job.content, cfg.import_max_rows))


# --------------------------------------------------------------------------- reads


async def find_job(session: AsyncSession, job_id: str, client_id: str) -> ImportJobRow:
    """A job of this client (another client's job is not found)."""
    job = await session.get(ImportJobRow, job_id)
    if job is None or job.client_id != client_id:
        raise NotFound(f"no import job {job_id}")
    return job


async def list_jobs(session: AsyncSession, client_id: str, page: Page) -> tuple[list[ImportJobRow], str | None]:
    """A page of the client's jobs, newest first, and the next page's cursor."""
    rows = await repository.import_jobs(session, client_id, repository.Position(page.limit + 1, page.after()))
    return split_page(rows, page, repository.import_job_key)
