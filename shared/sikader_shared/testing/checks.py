"""Small helpers every test suite uses: wait until a condition holds, check an HTTP answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T]],
    what: str = "condition",
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail the test with
    `what` and the last answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last!r})")


def ok(response: httpx.Response, *codes: int) -> Any:
    """The JSON body of an answer with one of `codes` (default 200 or 201); otherwise fail
    the test with the request and the answer."""
    assert response.status_code in (codes or (200, 201)), (
        f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
    )
    return response.json()
