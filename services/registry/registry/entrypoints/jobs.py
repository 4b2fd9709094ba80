"""Background workers: none (the registry's outbox relay and consumer are the runtime's)."""

from __future__ import annotations

from sikader_shared.service import BackgroundJob

JOBS: list[BackgroundJob] = []
