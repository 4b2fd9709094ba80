"""Certificates by holder, revocation and the expiry sweep. The number-addressed routes
(verification, printable) are in their own modules, included after this one: a number
contains slashes ({number:path})."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from certification.config import ConfigDep
from certification.entrypoints.schemas import (
    ERRORS,
    CertificatePublic,
    ExpiringCertificatePublic,
    RevocationRequest,
    SweepResult,
)
from certification.handlers import certificates, statistics
from sikader_shared.deps import Admin, Caller, CertificateRevoker, RuntimeDep, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import Page, paging, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

router = APIRouter(tags=["certificates"], responses=ERRORS)


@router.get("/certificates", response_model=list[CertificatePublic])
async def list_certificates(
    request: Request,
    response: Response,
    session: SessionDep,
    config: ConfigDep,
    _actor: Caller,
    page: Annotated[Page, Depends(paging(100, 1000))],
    cadre_id: str = Query(description="The holder (cadre id)"),
) -> list[CertificatePublic]:
    """A holder's certificates, oldest first. Paged: `limit`, and the `Link: rel="next"`
    header while there is more."""
    rows = await certificates.certificates_for(session, config, cadre_id, page.after(), page.limit + 1)
    items, cursor = split_page(rows, page, certificates.page_key)
    set_next_link(request, response, cursor)
    return items


@router.get("/certificates/expiring", response_model=list[ExpiringCertificatePublic])
async def list_expiring(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    _actor: Caller,
    page: Annotated[Page, Depends(paging(100, 1000))],
    within_days: int = Query(30, description="The window: 30, 60 or 90 days (anything else is a 422)"),
) -> list[ExpiringCertificatePublic]:
    """Current valid certificates expiring within the window, soonest first (days counted in
    WITA dates), with the holder and area. Paged: `limit`, `Link: rel="next"`."""
    rows = await statistics.expiring(session, runtime.clock.now(), within_days, page.after(), page.limit + 1)
    items, cursor = split_page(rows, page, statistics.expiring_page_key)
    set_next_link(request, response, cursor)
    return items


@router.post("/certificates/{certificate_id}/revoke", response_model=CertificatePublic)
async def revoke(
    certificate_id: str, body: RevocationRequest, request: Request, actor: CertificateRevoker, config: ConfigDep
) -> JSONResponse:
    """Revoke a certificate for good, with a reason (CertificateRevoked)."""

    async def op(uow: UnitOfWork) -> CertificatePublic:
        return await certificates.revoke_certificate(uow, config, certificate_id, body.reason)

    return await execute_write(request, actor, op, status_code=200, body=body.model_dump(mode="json"))


@router.post("/expiry-sweep", response_model=SweepResult)
async def expiry_sweep(request: Request, actor: Admin, config: ConfigDep) -> JSONResponse:
    """Run the expiry scheduler's tick now (it also runs in the background)."""

    async def op(uow: UnitOfWork) -> SweepResult:
        return await certificates.run_expiry_sweep(uow, uow.clock.now(), config.notice_days)

    return await execute_write(request, actor, op, status_code=200)
