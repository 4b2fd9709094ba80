"""Background jobs: the projector applies staged inputs (a recompute requested by a new
policy; events staged by earlier versions). Input events themselves are applied by the
consumer, in its transaction."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from incentives.config import IncentivesConfig
from incentives.handlers import inputs


async def projector(runtime: Any, stop: asyncio.Event) -> None:
    """Applies staged inputs (up to `projector_batch` per transaction) and re-decides the
    cadres concerned; idles briefly when nothing is staged."""
    config: IncentivesConfig = runtime.config
    while not stop.is_set():
        async with runtime.uow() as uow:
            applied = await inputs.project_staged(uow, config.projector_batch)
            await uow.commit()
        if applied == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=config.projector_idle_s)


JOBS = [projector]
