"""Walking a paged list route the way a client does: follow `Link: <...>; rel="next"` until an
answer has none (sikader_shared.paging)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

NEXT = re.compile(r'<([^>]+)>; rel="next"')


async def walk_pages(
    client: Any, url: str, params: dict[str, Any] | None = None, items: Callable[[Any], list[Any]] = lambda body: body
) -> tuple[list[Any], int]:
    """Every item of a paged list (`items` picks them from a page's body: the body itself for
    an array), in order, and the number of pages. Fails on a non-200 answer or a malformed Link."""
    seen: list[Any] = []
    pages = 0
    query = params
    next_url: str | None = url
    while next_url is not None:
        r = await client.get(next_url, params=query)
        assert r.status_code == 200, r.text
        seen.extend(items(r.json()))
        pages += 1
        link = r.headers.get("link")
        if link is None:
            return seen, pages
        match = NEXT.fullmatch(link)
        assert match and "cursor=" in link, link
        next_url, query = match.group(1), None
    return seen, pages
