"""Printable certificates (HTML and PDF, any key: they show the full name) with a QR code
pointing at the public verification URL."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from certification.config import ConfigDep
from certification.entrypoints.schemas import ERRORS, NUMBER_PATH
from certification.handlers import certificates
from sikader_shared.deps import Caller, SessionDep

router = APIRouter(tags=["certificates"])


@router.get(
    "/certificates/{number:path}.html",
    response_class=HTMLResponse,
    responses={**ERRORS, 200: {"content": {"text/html": {}}, "description": "Printable certificate"}},
)
async def certificate_page(
    session: SessionDep, config: ConfigDep, _actor: Caller, number: str = NUMBER_PATH
) -> HTMLResponse:
    """Printable certificate (HTML, any key: it shows the full name) with a QR code
    pointing at the public verification URL."""
    return HTMLResponse(await certificates.certificate_page(session, config, number))


@router.get(
    "/certificates/{number:path}.pdf",
    response_class=Response,
    responses={**ERRORS, 200: {"content": {"application/pdf": {}}, "description": "Printable certificate (PDF)"}},
)
async def certificate_document(
    session: SessionDep, config: ConfigDep, _actor: Caller, number: str = NUMBER_PATH
) -> Response:
    """Printable certificate (PDF, any key) with a QR code pointing at the verification URL."""
    filename, pdf = await certificates.certificate_document(session, config, number)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )
