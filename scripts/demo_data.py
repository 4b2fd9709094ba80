"""Demo data for Balikpapan, loaded through the public APIs on the first `make run`.

The hook is called once (a marker under var/ records that it ran). The registry,
certification and incentives issues fill it with seeded, deterministic data."""

from __future__ import annotations

from typing import Any


async def load_demo_data(urls: dict[str, str], admin_key: str) -> dict[str, Any]:
    """Load the demo data; returns a summary of what was loaded."""
    _ = (urls, admin_key)
    return {"loaded": []}
