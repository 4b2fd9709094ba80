"""Cadres: registration, search, changes, assignment history, status, and the bulk import.
NIK, contact and payment details are masked unless the key has `registry:pii`; every
unmasked answer is written to the PII read log."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from registry.config import ConfigDep
from registry.domain.commands import MAX_PAGE, CadreAssign, CadreCreate, CadreSearch, CadreStatusChange, CadreUpdate
from registry.domain.csvfiles import CADRE_OPTIONAL, CADRE_REQUIRED, parse_cadres
from registry.entrypoints.listing import sized
from registry.entrypoints.schemas import AssignmentPublic, CadreListed, CadrePage, CadrePublic, ImportReport, pii_fields
from registry.entrypoints.uploads import CADRE_CSV_EXAMPLE, csv_body, parse_csv, read_csv
from registry.handlers import assignments, imports
from registry.handlers import cadres as handlers
from sikader_shared.deps import RegistryReader, RegistryWriter, RuntimeDep, SessionDep, UowFactoryDep
from sikader_shared.errors import Forbidden
from sikader_shared.http import execute_write, log_pii_read
from sikader_shared.paging import Page, paging, set_next_link
from sikader_shared.uow import Actor, UnitOfWork

if TYPE_CHECKING:
    from registry.adapters.tables import CadreRow

router = APIRouter(prefix="/cadres", tags=["cadres"])

PII = "registry:pii"
ListPage = Annotated[Page, Depends(paging(50, 200))]
HistoryPage = Annotated[Page, Depends(paging(100, 1000))]


Shown = TypeVar("Shown", bound=CadrePublic)


async def present(
    request: Request, new_uow: UowFactoryDep, actor: Actor, rows: list[CadreRow], model: type[Shown]
) -> list[Shown]:
    """Masked, or unmasked and logged (one PII read entry per cadre shown)."""
    if not actor.has(PII) or not rows:
        return [model.of(r, unmasked=False) for r in rows]
    async with new_uow(actor) as uow:
        for r in rows:
            log_pii_read(uow, request, "cadre", r.id, pii_fields(r))
        await uow.commit()
    return [model.of(r, unmasked=True) for r in rows]


async def present_listed(
    request: Request, new_uow: UowFactoryDep, actor: Actor, listed: list[tuple[CadreRow, str | None]]
) -> list[CadreListed]:
    """A list's items: as `present`, each with its Posyandu's name (read in the list's query)."""
    shown = await present(request, new_uow, actor, [row for row, _ in listed], CadreListed)
    for item, (_, name) in zip(shown, listed, strict=True):
        item.posyandu_name = name
    return shown


def present_in(uow: UnitOfWork, request: Request, actor: Actor, row: CadreRow) -> CadrePublic:
    """For write answers: the PII read is logged in the write's own transaction."""
    unmasked = actor.has(PII)
    if unmasked:
        log_pii_read(uow, request, "cadre", row.id, pii_fields(row))
    return CadrePublic.of(row, unmasked=unmasked)


@router.post("", status_code=201, response_model=CadrePublic)
async def register_cadre(body: CadreCreate, request: Request, actor: RegistryWriter, config: ConfigDep) -> JSONResponse:
    """Register a cadre. The NIK must agree with birth date and sex and be issued in the
    configured region; a NIK already registered gives 409 (with `existing_cadre_id` for a
    `registry:pii` key only).
    Emits CadreRegistered, and CadreContactChanged / CadrePaymentDetailsChanged (encrypted,
    private topic) when contact or payment details are given."""

    async def op(uow: UnitOfWork) -> CadrePublic:
        return present_in(uow, request, actor, await handlers.register_cadre(uow, config, body))

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("", response_model=CadrePage)
async def list_cadres(
    request: Request,
    response: Response,
    session: SessionDep,
    new_uow: UowFactoryDep,
    actor: RegistryReader,
    paged: ListPage,
    name: str | None = Query(None, max_length=100, description="Part of the name"),
    posyandu_id: str | None = None,
    kelurahan_code: str | None = Query(None, examples=["64.71.06.1002"]),
    kecamatan_code: str | None = Query(None, examples=["64.71.06"]),
    status: str | None = Query(None, pattern="^(active|inactive)$"),
    role: str | None = Query(None, examples=["posyandu_cadre"]),
    page: int = Query(1, ge=1, le=MAX_PAGE, description="Ignored with a `cursor`"),
    page_size: int = Query(50, ge=1, le=200, description="The older name of `limit`"),
) -> CadrePage:
    """Search cadres by name, Posyandu, kelurahan, kecamatan, status, role (ordered by name).
    Paged by `limit` and the `Link: rel="next"` header (or by `page` and `page_size`).
    To search by NIK use POST /cadres/search (keeps the NIK out of URLs)."""
    size = sized(request, paged, page_size)
    rows, total, cursor = await handlers.list_cadres(
        session,
        size,
        (page - 1) * size.limit,
        nik_hash=None,
        name=name,
        posyandu_id=posyandu_id,
        kelurahan_code=kelurahan_code,
        kecamatan_code=kecamatan_code,
        status=status,
        role=role,
    )
    set_next_link(request, response, cursor)
    items = await present_listed(request, new_uow, actor, rows)
    return CadrePage(items=items, total=total, page=page, page_size=size.limit)


@router.post("/search", response_model=CadrePage)
async def search_cadres(
    body: CadreSearch,
    request: Request,
    session: SessionDep,
    new_uow: UowFactoryDep,
    actor: RegistryReader,
    config: ConfigDep,
) -> CadrePage:
    """The same search, with an exact NIK allowed (looked up by its hash) for a `registry:pii`
    key only: without it, a match would confirm a guessed NIK (403)."""
    if body.nik and not actor.has(PII):
        raise Forbidden("searching by NIK needs the scope 'registry:pii' (a match would confirm a guessed NIK)")
    rows, total = await handlers.search_cadres(session, config, body)
    items = await present_listed(request, new_uow, actor, rows)
    return CadrePage(items=items, total=total, page=body.page, page_size=body.page_size)


@router.get("/{cadre_id}", response_model=CadrePublic)
async def get_cadre(
    cadre_id: str, request: Request, session: SessionDep, new_uow: UowFactoryDep, actor: RegistryReader
) -> CadrePublic:
    """One cadre; NIK, contact and payment details unmasked only for `registry:pii` (logged)."""
    row = await handlers.find_cadre(session, cadre_id)
    return (await present(request, new_uow, actor, [row], CadrePublic))[0]


@router.patch("/{cadre_id}", response_model=CadrePublic)
async def update_cadre(
    cadre_id: str, body: CadreUpdate, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Change a cadre. Emits CadreUpdated for public fields, CadreContactChanged /
    CadrePaymentDetailsChanged (private topic, encrypted) for contact / payment details."""

    async def op(uow: UnitOfWork) -> CadrePublic:
        return present_in(uow, request, actor, await handlers.update_cadre(uow, config, cadre_id, body))

    return await execute_write(request, actor, op, body=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{cadre_id}/assignment", response_model=CadrePublic)
async def assign(
    cadre_id: str, body: CadreAssign, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Assign the cadre to a Posyandu as primary, or transfer them (history kept).
    Emits CadreAssigned."""

    async def op(uow: UnitOfWork) -> CadrePublic:
        return present_in(uow, request, actor, await assignments.assign_cadre(uow, config, cadre_id, body))

    return await execute_write(request, actor, op, body=body.model_dump(mode="json"))


@router.get("/{cadre_id}/assignments", response_model=list[AssignmentPublic])
async def assignment_history(
    cadre_id: str, request: Request, response: Response, session: SessionDep, _actor: RegistryReader, page: HistoryPage
) -> list[AssignmentPublic]:
    """The cadre's Posyandu assignments, oldest first (turnover never rewrites them; paged)."""
    rows, cursor = await assignments.history(session, cadre_id, page)
    set_next_link(request, response, cursor)
    return [AssignmentPublic.model_validate(a) for a in rows]


@router.post("/{cadre_id}/deactivation", response_model=CadrePublic)
async def deactivate(
    cadre_id: str, body: CadreStatusChange, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """The cadre becomes inactive (reason required). Emits CadreDeactivated."""

    async def op(uow: UnitOfWork) -> CadrePublic:
        return present_in(uow, request, actor, await handlers.deactivate_cadre(uow, config, cadre_id, body))

    return await execute_write(request, actor, op, body=body.model_dump(mode="json"))


@router.post("/{cadre_id}/reactivation", response_model=CadrePublic)
async def reactivate(
    cadre_id: str, body: CadreStatusChange, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """An inactive cadre becomes active again. Emits CadreReactivated."""

    async def op(uow: UnitOfWork) -> CadrePublic:
        return present_in(uow, request, actor, await handlers.reactivate_cadre(uow, config, cadre_id, body))

    return await execute_write(request, actor, op, body=body.model_dump(mode="json"))


@router.post(
    "/import",
    response_model=ImportReport,
    openapi_extra=csv_body(CADRE_CSV_EXAMPLE, CADRE_REQUIRED, CADRE_OPTIONAL),
)
async def import_cadres(
    request: Request, actor: RegistryWriter, config: ConfigDep, runtime: RuntimeDep
) -> JSONResponse:
    """Bulk registration from a spreadsheet, with the same rules as POST /cadres. Each bad
    row is reported (line, field, reason); every good row is registered; a NIK already in
    the register is reported under `existing`, not registered twice. The Posyandu is named
    by posyandu_id, or by kelurahan_code + posyandu_name. A file that is not a CSV of these
    columns: 422, nothing changes."""
    raw = await read_csv(request, config)
    with runtime.relay.yielding_to_bulk():  # the import first, its events after
        parsed = await parse_csv(parse_cadres, raw, config)

        async def op(uow: UnitOfWork) -> dict[str, Any]:
            return await imports.import_cadres(uow, config, parsed)

        return await execute_write(request, actor, op, body={"sha256": hashlib.sha256(raw).hexdigest()})
