"""Background workers: the asynchronous imports (the outbox relay and the consumer are the
runtime's)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from registry.config import RegistryConfig
from registry.domain.csvfiles import CsvFileError
from registry.handlers import import_jobs
from sikader_shared.errors import ServiceError
from sikader_shared.service import BackgroundJob, ServiceRuntime
from sikader_shared.uow import Actor

log = logging.getLogger(__name__)


async def _one_chunk(runtime: ServiceRuntime, config: RegistryConfig, files: dict[str, import_jobs.ParsedFile]) -> bool:
    """The next chunk of the oldest unfinished job, as its uploader; False when idle."""
    async with runtime.sessions() as session:
        job = await import_jobs.next_job(session)
        if job is None:
            return False
        job_id, correlation_id = job.id, job.correlation_id
        # The uploader's client and key, so the audit names the key that imported each row.
        actor = Actor(client_id=job.client_id, key_id=job.key_id)
        if job_id not in files:
            try:
                files[job_id] = await asyncio.to_thread(import_jobs.parse_job, job, config)  # CPU: off the loop
            except CsvFileError as exc:  # refused at upload already, unless the limits changed since
                return await _fail(runtime, actor, correlation_id, job_id, exc.reason)
    try:
        async with runtime.uow(actor=actor, correlation_id=correlation_id) as uow:
            status = await import_jobs.run_chunk(uow, config, job_id, files[job_id])
            await uow.commit()
    except ServiceError as exc:  # e.g. contact details without the contact key (503)
        files.pop(job_id, None)
        return await _fail(runtime, actor, correlation_id, job_id, exc.message)
    if status != "running":
        files.pop(job_id, None)
    return status is not None


async def _fail(runtime: ServiceRuntime, actor: Actor, correlation_id: str | None, job_id: str, reason: str) -> bool:
    log.warning("import job failed", extra={"job_id": job_id, "reason": reason})
    async with runtime.uow(actor=actor, correlation_id=correlation_id) as uow:
        await import_jobs.fail(uow, job_id, reason)
        await uow.commit()
    return True


async def import_worker(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Run queued imports chunk by chunk; after a restart, resume unfinished ones."""
    config: RegistryConfig = runtime.config
    files: dict[str, import_jobs.ParsedFile] = {}  # parsed once per process
    while not stop.is_set():
        try:
            worked = await _one_chunk(runtime, config, files)
        except Exception:  # a database hiccup: retried on the next round
            log.exception("import worker round failed")
            worked = False
        if worked:
            await asyncio.sleep(0)  # let requests in between chunks
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=config.import_poll_s)


JOBS: list[BackgroundJob] = [import_worker]
