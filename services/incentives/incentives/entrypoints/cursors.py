"""Reading the one-value cursors of this service's list routes (sikader_shared.paging gives
them out; a cursor not of the expected kind is a 422, never a failed query)."""

from __future__ import annotations

from sikader_shared.errors import Invalid
from sikader_shared.paging import Page


def _key(page: Page) -> object | None:
    key = page.after()
    if key is None:
        return None
    if len(key) != 1:
        raise Invalid("cursor is not one for this list", field="cursor")
    return key[0]


def int_after(page: Page, maximum: int = 2**31 - 1) -> int | None:
    """An integer key (a sequence, a number, an id up to `maximum`: the column's range)."""
    value = _key(page)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum):
        raise Invalid("cursor is not one for this list", field="cursor")
    return value


def str_after(page: Page) -> str | None:
    value = _key(page)
    if value is not None and not isinstance(value, str):
        raise Invalid("cursor is not one for this list", field="cursor")
    return value
