"""Background jobs: the expiry scheduler, driven by the runtime's (injectable) clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from certification.config import CertificationConfig
from certification.handlers.certificates import run_expiry_sweep
from certification.settings import CertificationSettings
from sikader_shared.service import BackgroundJob, ServiceRuntime

log = logging.getLogger(__name__)


async def expiry_scheduler(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Run the expiry sweep at start (catch up after downtime) and every interval."""
    config: CertificationConfig = runtime.config
    settings = runtime.settings
    assert isinstance(settings, CertificationSettings)
    while not stop.is_set():
        async with runtime.uow() as uow:
            result = await run_expiry_sweep(uow, runtime.clock.now(), config.notice_days)
            await uow.commit()
        if result.announced or result.expired:
            log.info("expiry sweep", extra={"announced": len(result.announced), "expired": len(result.expired)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.expiry_sweep_interval_s)


JOBS: list[BackgroundJob] = [expiry_scheduler]
