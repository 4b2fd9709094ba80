"""Siaran: compose a broadcast by area and role, preview it (with the cadres it reaches),
send it, and follow its progress and tally (notifications:broadcast)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from console.domain.broadcasts import CHANNELS, ROLES, Draft, broadcast_json, draft_problems
from console.entrypoints.web import (
    ClientDep,
    FormChecked,
    RecordId,
    SignedIn,
    flash_and_redirect,
    render,
    see_other,
    tr,
)
from console.handlers import broadcasts
from console.handlers.common import Refused

router = APIRouter(tags=["pages"], include_in_schema=False)
SCOPE = "notifications:broadcast"


async def _draft(request: Request) -> Draft:
    form = await request.form()

    def many(name: str, limit: int) -> list[str]:
        return [str(v)[:40] for v in form.getlist(name) if str(v).strip()][:limit]

    return Draft(
        title=str(form.get("title") or "")[:200],
        message=str(form.get("message") or "")[:2000],
        channels=many("channels", 3),
        kecamatan_codes=many("kecamatan_codes", 100),
        kelurahan_codes=many("kelurahan_codes", 500),
        roles=many("roles", 20),
    )


async def _compose(
    request: Request, current: SignedIn, client: ClientDep, draft: Draft, problems: list[str]
) -> Response:
    areas = await broadcasts.areas(client, current.caller)
    sent = await broadcasts.sent(client, current.caller) if current.visitor.can(SCOPE) else []
    context = {
        "draft": draft, "problems": problems, "areas": areas, "sent": sent, "channels": CHANNELS, "roles": ROLES,
        "can_broadcast": current.visitor.can(SCOPE),
    }  # fmt: skip
    return render(request, "siaran.html", context, status=422 if problems else 200)


@router.get("/siaran", response_class=HTMLResponse)
async def compose(request: Request, current: SignedIn, client: ClientDep) -> Response:
    return await _compose(request, current, client, Draft("", "", ["whatsapp"]), [])


@router.post("/siaran/pratinjau", response_class=HTMLResponse)
async def preview(request: Request, current: FormChecked, client: ClientDep) -> Response:
    draft = await _draft(request)
    problems = draft_problems(draft)
    if problems:
        return await _compose(request, current, client, draft, problems)
    areas = await broadcasts.areas(client, current.caller)
    reach = await broadcasts.estimate(client, current.caller, draft)
    names = {a["code"]: a["name"] for a in [*areas.kecamatan, *areas.kelurahan]}
    return render(request, "siaran_preview.html", {"draft": draft, "reach": reach, "names": names})


@router.post("/siaran/kirim")
async def send(request: Request, current: FormChecked, client: ClientDep) -> Response:
    draft = await _draft(request)
    if draft_problems(draft):
        return await _compose(request, current, client, draft, draft_problems(draft))
    try:
        broadcast_id = await broadcasts.send(client, current.caller, draft)
    except Refused as refused:
        key = "forbidden" if refused.status == 403 else "refused"
        return await flash_and_redirect(request, current, "error", tr(request, key, detail=refused.detail), "/siaran")
    return see_other(f"/siaran/{broadcast_id}")


@router.get("/siaran/{broadcast_id}.json")
async def progress(broadcast_id: RecordId, current: SignedIn, client: ClientDep) -> JSONResponse:
    return JSONResponse(broadcast_json(await broadcasts.broadcast(client, current.caller, broadcast_id)))


@router.get("/siaran/{broadcast_id}", response_class=HTMLResponse)
async def follow(request: Request, broadcast_id: RecordId, current: SignedIn, client: ClientDep) -> Response:
    view = await broadcasts.broadcast(client, current.caller, broadcast_id)
    return render(request, "siaran_progress.html", {"v": view, "b": view.broadcast})
