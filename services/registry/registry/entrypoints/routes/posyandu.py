"""Posyandu: registration, changes, facility assessments (history), verification by
`posyandu:verify`, closure and merger, and the bulk import."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from registry.config import ConfigDep
from registry.domain.commands import (
    MAX_PAGE,
    AssessmentCreate,
    PosyanduClosure,
    PosyanduCreate,
    PosyanduUpdate,
    VerificationDecision,
)
from registry.domain.csvfiles import POSYANDU_OPTIONAL, POSYANDU_REQUIRED, parse_posyandu
from registry.entrypoints.listing import PosyanduFilters, sized
from registry.entrypoints.schemas import (
    AssessmentPublic,
    ClosurePublic,
    ImportReport,
    PosyanduPage,
    PosyanduPublic,
    VerificationPublic,
)
from registry.entrypoints.uploads import POSYANDU_CSV_EXAMPLE, csv_body, parse_csv, read_csv
from registry.handlers import facility, imports
from registry.handlers import posyandu as handlers
from sikader_shared.deps import PosyanduVerifier, RegistryReader, RegistryWriter, RuntimeDep, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link
from sikader_shared.uow import UnitOfWork

router = APIRouter(prefix="/posyandu", tags=["posyandu"])

PII = "registry:pii"  # exact points of Posyandu meeting in a resident's house

ListPage = Annotated[Page, Depends(paging(50, 500))]
HistoryPage = Annotated[Page, Depends(paging(100, 1000))]


@router.post("", status_code=201, response_model=PosyanduPublic)
async def register_posyandu(
    body: PosyanduCreate, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Register a Posyandu in a kelurahan (409 if one of the same name exists there).
    Emits PosyanduRegistered."""

    async def op(uow: UnitOfWork) -> PosyanduPublic:
        return PosyanduPublic.of(await handlers.register_posyandu(uow, config, body), actor.has(PII))

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("", response_model=PosyanduPage)
async def list_posyandu(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: RegistryReader,
    paged: ListPage,
    filters: PosyanduFilters,
    page: int = Query(1, ge=1, le=MAX_PAGE, description="Ignored with a `cursor`"),
    page_size: int = Query(50, ge=1, le=500, description="The older name of `limit`"),
) -> PosyanduPage:
    """Posyandu filtered by area, institution status, verification, facility, type and
    whether they have coordinates (ordered by kelurahan and name). Paged by `limit` and the
    `Link: rel="next"` header (or by `page` and `page_size`). The point of a Posyandu meeting
    in a resident's house is approximate without `registry:pii` (see `location_precision`)."""
    size = sized(request, paged, page_size)
    rows, total, cursor = await handlers.list_posyandu(session, size, (page - 1) * size.limit, **filters)
    set_next_link(request, response, cursor)
    items = [PosyanduPublic.of(p, actor.has(PII)) for p in rows]
    return PosyanduPage(items=items, total=total, page=page, page_size=size.limit)


@router.get("/{posyandu_id}", response_model=PosyanduPublic)
async def get_posyandu(posyandu_id: str, session: SessionDep, actor: RegistryReader) -> PosyanduPublic:
    """One Posyandu; the point of one meeting in a resident's house is approximate without
    `registry:pii` (see `location_precision`)."""
    return PosyanduPublic.of(await handlers.find_posyandu(session, posyandu_id), actor.has(PII))


@router.patch("/{posyandu_id}", response_model=PosyanduPublic)
async def update_posyandu(
    posyandu_id: str, body: PosyanduUpdate, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Change a Posyandu's data, institution (SK, LKK registration) or management roles.
    Emits PosyanduUpdated when a published field changed."""

    async def op(uow: UnitOfWork) -> PosyanduPublic:
        return PosyanduPublic.of(await handlers.update_posyandu(uow, config, posyandu_id, body), actor.has(PII))

    return await execute_write(request, actor, op, body=body.model_dump(mode="json", exclude_unset=True))


@router.post("/{posyandu_id}/assessments", status_code=201, response_model=AssessmentPublic)
async def assess_facility(
    posyandu_id: str, body: AssessmentCreate, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Record a facility assessment (kept as history). The Posyandu goes back to PENDING
    verification. Emits PosyanduFacilityAssessed."""

    async def op(uow: UnitOfWork) -> AssessmentPublic:
        return AssessmentPublic.model_validate(await facility.assess_facility(uow, config, posyandu_id, body))

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("/{posyandu_id}/assessments", response_model=list[AssessmentPublic])
async def list_assessments(
    posyandu_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: RegistryReader,
    page: HistoryPage,
) -> list[AssessmentPublic]:
    """Every facility assessment of the Posyandu, oldest first (paged)."""
    rows, cursor = await facility.assessments(session, posyandu_id, page)
    set_next_link(request, response, cursor)
    return [AssessmentPublic.model_validate(a) for a in rows]


@router.post("/{posyandu_id}/verification", status_code=201, response_model=VerificationPublic)
async def verify(
    posyandu_id: str, body: VerificationDecision, request: Request, actor: PosyanduVerifier, config: ConfigDep
) -> JSONResponse:
    """VERIFIED, REJECTED (with a reason) or RETURNED (sent back for correction, with a
    reason), covering the latest facility assessment and the institution. A refused VERIFIED
    (409) names what is missing, as the verification queue does (`missing`). RETURNED applies
    to a pending assessment: the Posyandu leaves the queue until a new assessment (its state
    RETURNED; the events carry it as PENDING). Emits PosyanduFacilityVerified /
    PosyanduFacilityRejected / PosyanduFacilityReturned."""

    async def op(uow: UnitOfWork) -> VerificationPublic:
        return VerificationPublic.model_validate(await facility.decide_verification(uow, config, posyandu_id, body))

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("/{posyandu_id}/verifications", response_model=list[VerificationPublic])
async def list_verifications(
    posyandu_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: RegistryReader,
    page: HistoryPage,
) -> list[VerificationPublic]:
    """Every verification decision on the Posyandu, oldest first (paged)."""
    rows, cursor = await facility.verifications(session, posyandu_id, page)
    set_next_link(request, response, cursor)
    return [VerificationPublic.model_validate(v) for v in rows]


@router.post("/{posyandu_id}/closure", response_model=ClosurePublic)
async def close(
    posyandu_id: str, body: PosyanduClosure, request: Request, actor: RegistryWriter, config: ConfigDep
) -> JSONResponse:
    """Close the Posyandu or merge it into another; its cadres move to the receiving
    Posyandu. Emits PosyanduClosed, then CadreAssigned per cadre moved (or CadreUpdated
    per cadre left unassigned)."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        return await handlers.close_posyandu(uow, config, posyandu_id, body)

    return await execute_write(request, actor, op, body=body.model_dump(mode="json"))


@router.post(
    "/import",
    response_model=ImportReport,
    openapi_extra=csv_body(POSYANDU_CSV_EXAMPLE, POSYANDU_REQUIRED, POSYANDU_OPTIONAL),
)
async def import_posyandu(
    request: Request, actor: RegistryWriter, config: ConfigDep, runtime: RuntimeDep
) -> JSONResponse:
    """Bulk registration from a spreadsheet. A row with facility columns also records its
    assessment. Rows already registered (same kelurahan and normalised name) are reported,
    not registered again. A file that is not a CSV of these columns: 422, nothing changes."""
    raw = await read_csv(request, config)
    with runtime.relay.yielding_to_bulk():  # the import first, its events after
        parsed = await parse_csv(parse_posyandu, raw, config)

        async def op(uow: UnitOfWork) -> dict[str, Any]:
            return await imports.import_posyandu(uow, config, parsed)

        return await execute_write(request, actor, op, body={"sha256": hashlib.sha256(raw).hexdigest()})
