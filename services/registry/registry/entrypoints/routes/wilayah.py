"""The wilayah of the configured city: kecamatan and kelurahan (reference data, read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from registry.config import ConfigDep
from registry.entrypoints.listing import memory_page
from registry.entrypoints.schemas import KecamatanPublic, KelurahanPublic
from sikader_shared.deps import RegistryReader
from sikader_shared.errors import NotFound
from sikader_shared.paging import Page, paging, set_next_link

router = APIRouter(prefix="/wilayah", tags=["wilayah"])

# A city's wilayah fits one page (Balikpapan: 6 kecamatan, 34 kelurahan); a national file pages.
WilayahPage = Annotated[Page, Depends(paging(1000, 10000))]


@router.get("/kecamatan", response_model=list[KecamatanPublic])
async def list_kecamatan(
    request: Request, response: Response, config: ConfigDep, _actor: RegistryReader, page: WilayahPage
) -> list[KecamatanPublic]:
    """The kecamatan of the configured city (reference data, read-only), with approximate
    centroids where the wilayah file has them."""
    items, cursor = memory_page(config.wilayah.kecamatan, page, lambda k: k.code)
    set_next_link(request, response, cursor)
    return [
        KecamatanPublic(
            code=k.code, name=k.name, kelurahan_count=len(k.kelurahan), latitude=k.latitude, longitude=k.longitude
        )
        for k in items
    ]


@router.get("/kelurahan", response_model=list[KelurahanPublic], responses={404: {"description": "Unknown kecamatan"}})
async def list_kelurahan(
    request: Request,
    response: Response,
    config: ConfigDep,
    _actor: RegistryReader,
    page: WilayahPage,
    kecamatan: str | None = Query(None, description="Kecamatan code, e.g. 64.71.06", examples=["64.71.06"]),
) -> list[KelurahanPublic]:
    """The kelurahan of the city, or of one kecamatan."""
    every = [
        KelurahanPublic(
            code=k.code,
            name=k.name,
            kecamatan_code=kec.code,
            kecamatan_name=kec.name,
            latitude=k.latitude,
            longitude=k.longitude,
        )
        for kec in config.wilayah.kecamatan
        if kecamatan is None or kec.code == kecamatan
        for k in kec.kelurahan
    ]
    if kecamatan is not None and not every:
        raise NotFound(f"no kecamatan {kecamatan}")
    items, cursor = memory_page(every, page, lambda k: k.code)
    set_next_link(request, response, cursor)
    return items
