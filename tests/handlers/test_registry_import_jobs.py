"""Registry handlers, the asynchronous imports: a job runs in chunks through the synchronous
import's handlers (same report), each chunk committed with its rows, events and the job's
progress; a worker restarted midway resumes after the last committed chunk (no row twice).
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import pytest
import pytest_asyncio

from registry.adapters.tables import ImportJobRow, PosyanduRow
from registry.domain.csvfiles import parse_posyandu
from registry.handlers import import_jobs, imports
from sikader_shared.errors import NotFound
from sikader_shared.events import PosyanduFacilityAssessed, PosyanduRegistered
from sikader_shared.paging import Page
from sikader_shared.testing.handlers import HandlerHarness
from tests.registry.handler_support import WRITER, config

CFG = dataclasses.replace(config(), import_chunk_rows=2)
CSV = (
    b"name,kelurahan_code,posyandu_type,facility_status,assessed_by,assessed_on\n"
    b"Posyandu Melati,64.71.06.1002,balita,resident_house,Puskesmas Klandasan Ilir,2026-03-01\n"
    b"Posyandu Mawar,64.71.06.1002,lansia,,,\n"
    b"Posyandu Anggrek,64.71.99.1001,balita,,,\n"
    b"Posyandu Kenanga,64.71.06.1002,toddler,,,\n"
    b"Posyandu Dahlia,64.71.06.1003,ILP,,,\n"
)


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def db(
    request: pytest.FixtureRequest, harness_for: Callable[..., AbstractAsyncContextManager[HandlerHarness]]
) -> AsyncIterator[HandlerHarness]:
    async with harness_for("registry", postgres=request.param == "postgresql") as harness:
        yield harness


async def _queued(db: HandlerHarness) -> str:
    async with db.uow(WRITER) as uow:
        job = import_jobs.queue_import(uow, "posyandu", CSV, parse_posyandu(CSV, 1000))
        await uow.commit()
    return job.id


async def _chunk(db: HandlerHarness, job_id: str, file: import_jobs.ParsedFile) -> str | None:
    async with db.uow(WRITER) as uow:
        status = await import_jobs.run_chunk(uow, CFG, job_id, file)
        await uow.commit()
    return status


async def _job(db: HandlerHarness, job_id: str) -> ImportJobRow:
    [job] = await db.rows(ImportJobRow, id=job_id)
    return job


async def test_a_job_runs_in_chunks_resumes_after_a_restart_and_reports_like_the_synchronous_import(
    db: HandlerHarness,
) -> None:
    job_id = await _queued(db)
    job = await _job(db, job_id)
    assert (job.status, job.rows_total, job.rows_done, job.client_id) == ("queued", 5, 0, "dinsos")
    async with db.sessions() as session:
        assert (await import_jobs.next_job(session)) is not None
        file = import_jobs.parse_job(await import_jobs.find_job(session, job_id, "dinsos"), CFG)

    assert await _chunk(db, job_id, file) == "running"
    job = await _job(db, job_id)
    assert (job.status, job.rows_done, job.report["registered"]) == ("running", 2, 2)
    first = await db.new_events()
    assert [type(e) for e in first] == [PosyanduRegistered, PosyanduFacilityAssessed, PosyanduRegistered]

    # A restarted worker parses the file again and carries on after the committed chunk.
    async with db.sessions() as session:
        again = import_jobs.parse_job(await import_jobs.find_job(session, job_id, "dinsos"), CFG)
    assert await _chunk(db, job_id, again) == "running"
    assert await _chunk(db, job_id, again) == "done"
    assert await _chunk(db, job_id, again) is None  # nothing left
    job = await _job(db, job_id)
    assert (job.status, job.rows_done, job.content, job.finished_at is not None) == ("done", 5, b"", True)
    assert [type(e) for e in await db.new_events()] == [PosyanduRegistered]  # Dahlia
    assert len(await db.rows(PosyanduRow)) == 3
    async with db.sessions() as session:
        assert await import_jobs.next_job(session) is None

    # The same file through the synchronous import (after the job, so all exist already):
    # the same lines, fields and reasons.
    async with db.uow(WRITER) as uow:
        sync = await imports.import_posyandu(uow, CFG, parse_posyandu(CSV, 1000))
        await uow.commit()
    report = job.report
    assert (report["rows"], report["registered"], report["rejected"]) == (5, 3, 2)
    assert report["errors"] == sync["errors"]
    assert [r["line"] for r in report["registered_ids"]] == [e["line"] for e in sync["existing"]]
    assert {r["posyandu_id"] for r in report["registered_ids"]} == {e["posyandu_id"] for e in sync["existing"]}
    audit = await db.audit("import_job", job_id)
    assert [a["action"] for a in audit] == ["import.queue", "import.done"]


async def test_a_failed_job_keeps_its_reason_and_jobs_are_the_client_s_own(db: HandlerHarness) -> None:
    first, second = await _queued(db), await _queued(db)
    async with db.uow(WRITER) as uow:
        await import_jobs.fail(uow, first, "the contact key is not set")
        await uow.commit()
    job = await _job(db, first)
    assert (job.status, job.reason, job.content) == ("failed", "the contact key is not set", b"")
    async with db.sessions() as session:
        nxt = await import_jobs.next_job(session)
        assert nxt is not None and nxt.id == second
        with pytest.raises(NotFound):
            await import_jobs.find_job(session, first, "dp3akb")
        page, cursor = await import_jobs.list_jobs(session, "dinsos", Page(1, None))
        rest, last = await import_jobs.list_jobs(session, "dinsos", Page(1, cursor))
        assert await import_jobs.list_jobs(session, "dp3akb", Page(10, None)) == ([], None)
    assert {page[0].id, rest[0].id} == {first, second} and last is None
