"""Peta: the map of every Posyandu, its data, the mapping statistics, the Posyandu without
coordinates and the exports."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.adapters.export import to_csv, to_xlsx
from console.config import ConfigDep
from console.domain.mapping import (
    EXPORT_HEADER,
    FACILITY_COLOURS,
    POSYANDU_STATUSES,
    POSYANDU_TYPES,
    VERIFICATION_RINGS,
    export_rows,
    statistics_rows,
)
from console.entrypoints.web import ClientDep, FormChecked, RecordId, SignedIn, flash_and_redirect, render, tr
from console.handlers import mapping
from console.handlers.common import Refused

router = APIRouter(tags=["pages"], include_in_schema=False)
Code = Annotated[str | None, Query(max_length=40, pattern=r"^[0-9A-Za-z._-]*$")]


def _map_filters(
    kecamatan_code: Code = None,
    kelurahan_code: Code = None,
    posyandu_type: Code = None,
    status: Code = None,
    verification_status: Code = None,
    facility_status: Code = None,
) -> dict[str, str]:
    """The map's filters (the registry's GeoJSON filters), shared by the page, its data and the exports."""
    return mapping.clean_filters(
        {
            "kecamatan_code": kecamatan_code,
            "kelurahan_code": kelurahan_code,
            "posyandu_type": posyandu_type,
            "status": status,
            "verification_status": verification_status,
            "facility_status": facility_status,
        }
    )


MapFilters = Annotated[dict[str, str], Depends(_map_filters)]


@router.get("/peta", response_class=HTMLResponse)
async def peta(
    request: Request,
    current: SignedIn,
    client: ClientDep,
    config: ConfigDep,
    filters: MapFilters,
) -> Response:
    page = await mapping.map_page(client, current.caller, filters)
    query = urlencode(filters)
    context = {
        "page": page,
        "filters": filters,
        "query": query,
        "types": POSYANDU_TYPES,
        "status_options": [(s, tr(request, f"st_{s}")) for s in POSYANDU_STATUSES],
        "facility_options": [(s, tr(request, f"fs_{s}")) for s in FACILITY_COLOURS],
        "verification_options": [(s, tr(request, f"vs_{s}")) for s in VERIFICATION_RINGS],
        "facility_colours": FACILITY_COLOURS,
        "verification_rings": VERIFICATION_RINGS,
        "labels_json": json.dumps(page.labels).replace("<", "\\u003c"),  # inside a script element
        "colours_json": json.dumps({"fill": FACILITY_COLOURS, "ring": VERIFICATION_RINGS}),
        "kelurahan_names": {k["code"]: k["name"] for k in page.kelurahan},
        "tile_url": config.settings.tile_url,
        "tile_attribution": config.settings.tile_attribution,
    }
    return render(request, "peta.html", context)


@router.get("/peta/posyandu.geojson")
async def posyandu_geojson(
    current: SignedIn,
    client: ClientDep,
    filters: MapFilters,
) -> Response:
    """The registry's GeoJSON as the signed-in person may see it, passed through unchanged (the
    map's script skips what it cannot draw and colours each point)."""
    answer = await mapping.geojson(client, current.caller, filters)
    media_type = answer.headers.get("content-type", "application/geo+json")
    return Response(answer.content, status_code=answer.status, media_type=media_type)


@router.get("/peta/export.{kind}")
async def export(
    kind: str,
    current: SignedIn,
    client: ClientDep,
    filters: MapFilters,
) -> Response:
    """The Posyandu on the map (the same filters) as CSV, or XLSX with the statistics too."""
    if kind not in ("csv", "xlsx"):
        return Response(status_code=404)
    data = await mapping.points(client, current.caller, filters)
    rows = export_rows(data.features)
    if kind == "csv":
        headers = {"Content-Disposition": 'attachment; filename="posyandu.csv"'}
        return Response(to_csv(EXPORT_HEADER, rows), media_type="text/csv; charset=utf-8", headers=headers)
    stats_header, stats = statistics_rows(await mapping.statistics(client, current.caller))
    content = to_xlsx([("Posyandu", EXPORT_HEADER, rows), ("Statistik kelurahan", stats_header, stats)])
    headers = {"Content-Disposition": 'attachment; filename="posyandu.xlsx"'}
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, media_type=xlsx, headers=headers)


@router.get("/peta/posyandu/{posyandu_id}", response_class=HTMLResponse)
async def coordinates_form(request: Request, posyandu_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    record = await mapping.posyandu(client, current.caller, posyandu_id)
    return render(request, "peta_posyandu.html", {"p": record})


@router.post("/peta/posyandu/{posyandu_id}")
async def save_coordinates(
    request: Request,
    posyandu_id: RecordId,
    current: FormChecked,
    client: ClientDep,
    latitude: Annotated[str, Form(max_length=40)],
    longitude: Annotated[str, Form(max_length=40)],
) -> Response:
    here = f"/peta/posyandu/{posyandu_id}"
    try:
        await mapping.set_coordinates(client, current.caller, posyandu_id, latitude, longitude)
    except Refused as refused:
        return await flash_and_redirect(request, current, "error", tr(request, "refused", detail=refused.detail), here)
    return await flash_and_redirect(request, current, "ok", tr(request, "coordinates_saved"), "/peta")
