"""Background jobs: the expiry scheduler, driven by the runtime's (injectable) clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from certification import handlers
from certification.config import CertificationConfig
from sikader_shared.service import ServiceRuntime

log = logging.getLogger(__name__)


def expiry_scheduler(
    config: CertificationConfig, interval_s: float
) -> Callable[[ServiceRuntime, asyncio.Event], Awaitable[None]]:
    async def expiry_scheduler(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        """Run the expiry sweep at start (catch up after downtime) and every interval."""
        while not stop.is_set():
            async with runtime.uow() as uow:
                result = await handlers.run_expiry_sweep(uow, runtime.clock.now(), config.notice_days)
                await uow.commit()
            if result.announced or result.expired:
                log.info("expiry sweep", extra={"announced": len(result.announced), "expired": len(result.expired)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval_s)

    return expiry_scheduler
