"""One paging style for every list route: `limit` and an opaque `cursor`, and a `Link`
header (RFC 8288, rel="next") carrying the next page's URL while there is one. The cursor
holds the sort key of the last row served (keyset paging: stable while rows are added)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from sqlalchemy import tuple_
from sqlalchemy.sql import ColumnElement

from sikader_shared.errors import Invalid

CURSOR_DESCRIPTION = 'Where the next page starts: the `cursor` of the `Link: rel="next"` header'


@dataclass(frozen=True)
class Page:
    limit: int
    cursor: str | None = None

    def after(self) -> list[Any] | None:
        """The sort key the cursor continues after, or None on the first page."""
        return None if self.cursor is None else decode_cursor(self.cursor)

    def after_int(self, maximum: int = 2**63 - 1) -> int | None:
        """A one-integer key (a row id, a sequence) within the column's range, or None."""
        value = self._one()
        if value is not None and (type(value) is not int or not 0 <= value <= maximum):
            raise Invalid("cursor is not one for this list", field="cursor")
        return value

    def after_str(self) -> str | None:
        """A one-text key (an id), or None."""
        value = self._one()
        if value is not None and not isinstance(value, str):
            raise Invalid("cursor is not one for this list", field="cursor")
        return value

    def _one(self) -> Any:
        key = self.after()
        if key is None:
            return None
        if len(key) != 1:
            raise Invalid("cursor is not one for this list", field="cursor")
        return key[0]


def paging(default: int = 100, maximum: int = 1000) -> Callable[..., Page]:
    """A dependency reading `limit` (default, maximum) and `cursor`."""

    def dependency(
        limit: int = Query(default, ge=1, le=maximum, description="Rows per page"),
        cursor: str | None = Query(None, min_length=1, max_length=1000, description=CURSOR_DESCRIPTION),
    ) -> Page:
        page = Page(limit, cursor)
        page.after()  # a bad cursor is a 422 before any query
        return page

    return dependency


PageDep = Annotated[Page, Depends(paging())]


def encode_cursor(key: Sequence[Any]) -> str:
    raw = json.dumps(list(key), separators=(",", ":"), default=str).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise Invalid("cursor is not one this service gave out", field="cursor") from exc
    if not isinstance(key, list) or not key:
        raise Invalid("cursor is not one this service gave out", field="cursor")
    return key


def after_key(columns: Sequence[ColumnElement[Any]], key: Sequence[Any] | None) -> ColumnElement[bool] | None:
    """WHERE (columns) > (key) for keyset paging in ascending order; None on the first page."""
    if key is None:
        return None
    if len(key) != len(columns):
        raise Invalid("cursor is not one for this list", field="cursor")
    if len(columns) == 1:
        return columns[0] > key[0]
    return tuple_(*columns) > tuple_(*key)


def set_next_link(request: Request, response: Response, next_cursor: str | None) -> None:
    """Add `Link: <...?cursor=...>; rel="next"` when there is a next page."""
    if next_cursor is None:
        return
    url = request.url.include_query_params(cursor=next_cursor)
    response.headers["Link"] = f'<{url}>; rel="next"'


def split_page(rows: Sequence[Any], page: Page, key: Callable[[Any], Sequence[Any]]) -> tuple[list[Any], str | None]:
    """`rows` fetched with `LIMIT page.limit + 1`: this page, and the cursor of the next one
    when the extra row shows there is one."""
    if len(rows) <= page.limit:
        return list(rows), None
    kept = list(rows[: page.limit])
    return kept, encode_cursor(key(kept[-1]))
