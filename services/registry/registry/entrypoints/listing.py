"""Paging helpers of the registry's list routes, beside `sikader_shared.paging`: the older
`page` / `page_size` parameters of the page-object lists, and lists held in memory (the
wilayah reference data)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request

from sikader_shared.errors import Invalid
from sikader_shared.paging import Page, split_page

T = TypeVar("T")


def sized(request: Request, page: Page, page_size: int) -> Page:
    """The page of a page-object list: `limit` rows when the caller gives `limit`, else
    `page_size` (the older parameter, as before)."""
    return page if "limit" in request.query_params else Page(page_size, page.cursor)


def memory_page(items: Sequence[T], page: Page, code: Callable[[T], str]) -> tuple[list[T], str | None]:
    """A page of a list held in memory, in its own order: the cursor holds the last code served."""
    after = page.after()
    start = 0
    if after is not None:
        codes = [code(i) for i in items]
        if after[0] not in codes:
            raise Invalid("cursor is not one for this list", field="cursor")
        start = codes.index(after[0]) + 1
    return split_page(items[start : start + page.limit + 1], page, lambda i: [code(i)])


def posyandu_filters(
    kecamatan_code: str | None = Query(None, examples=["64.71.06"]),
    kelurahan_code: str | None = Query(None, examples=["64.71.06.1002"]),
    status: str | None = Query(None, pattern="^(active|closed|merged)$"),
    verification_status: str | None = Query(None, pattern="^(PENDING|VERIFIED|REJECTED|RETURNED)$"),
    facility_status: str | None = Query(
        None, pattern="^(own_building|resident_house|public_building|none|not_assessed)$"
    ),
    posyandu_type: str | None = Query(None, pattern="^(balita|lansia|remaja|ILP)$"),
    name: str | None = Query(None, max_length=100, description="Part of the name"),
    has_coordinates: bool | None = Query(None, description="true: with a point; false: the ones to place on the map"),
) -> dict[str, Any]:
    """The filters GET /posyandu and GET /posyandu.geojson share."""
    return {
        "kecamatan_code": kecamatan_code,
        "kelurahan_code": kelurahan_code,
        "status": status,
        "verification_status": verification_status,
        "facility_status": facility_status,
        "posyandu_type": posyandu_type,
        "name": name,
        "has_coordinates": has_coordinates,
    }


PosyanduFilters = Annotated[dict[str, Any], Depends(posyandu_filters)]
