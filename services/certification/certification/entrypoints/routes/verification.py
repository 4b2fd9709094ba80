"""Public certificate verification (no key; limited per client address)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from certification.entrypoints.schemas import NUMBER_PATH, VerificationPublic
from certification.handlers import certificates
from sikader_shared.deps import RuntimeDep, SessionDep
from sikader_shared.ratelimit import public_route

router = APIRouter(tags=["verification"])


@router.get(
    "/certificates/{number:path}/verify",
    dependencies=[Depends(public_route)],  # sequential numbers: limited per address
    response_model=VerificationPublic,
    responses={404: {"model": VerificationPublic, "description": "No such certificate (status 'unknown')"}},
)
async def verify(
    runtime: RuntimeDep,
    session: SessionDep,
    number: str = NUMBER_PATH,
    code: str | None = Query(
        None, max_length=64, description="The check code of the certificate's QR code / printed URL"
    ),
) -> JSONResponse:
    """Public verification, no key needed: status (valid / expired / revoked / suspended /
    superseded / unknown), level and validity dates; with the certificate's check code (in
    its QR code and printed URL) also the holder's name, partly masked. Limited per client
    address (429 with Retry-After)."""
    out = await certificates.verify(session, number, runtime.clock.now(), code)
    return JSONResponse(out.model_dump(mode="json"), status_code=404 if out.status == "unknown" else 200)
