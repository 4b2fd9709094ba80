"""Routes every service has: health, metrics, docs (offline), AsyncAPI, the audit trail, the
PII read log and whoami. A module-level router like the services' own routes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sikader_shared import audit_log
from sikader_shared.deps import AuditReader, Caller, RuntimeDep, SessionDep
from sikader_shared.docs import asyncapi_html, swagger_html
from sikader_shared.paging import PageDep, set_next_link, split_page
from sikader_shared.service import asyncapi_document

router = APIRouter(tags=["platform"])


@router.get("/health/live")
async def live(runtime: RuntimeDep) -> dict[str, str]:
    return {"status": "live", "service": runtime.name}


@router.get("/health/ready")
async def ready(runtime: RuntimeDep) -> JSONResponse:
    ok, body = await runtime.readiness()
    body["status"] = "ready" if ok else "not ready"
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response)
async def metrics(runtime: RuntimeDep) -> Response:
    await runtime.refresh_gauges()
    return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(swagger_html(request.app.title))


@router.get("/asyncapi.json")
async def asyncapi_json(runtime: RuntimeDep) -> dict[str, Any]:
    return asyncapi_document(runtime)


@router.get("/asyncapi", include_in_schema=False)
async def asyncapi_page(runtime: RuntimeDep) -> HTMLResponse:
    return HTMLResponse(asyncapi_html(asyncapi_document(runtime)))


@router.get("/", include_in_schema=False)
async def index(runtime: RuntimeDep) -> dict[str, Any]:
    return {
        "service": runtime.name,
        "docs": "/docs",
        "openapi": "/openapi.json",
        "asyncapi": "/asyncapi",
        "health": "/health/ready",
    }


@router.get("/audit")
async def audit_trail(
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: AuditReader,
    entity_type: str,
    entity_id: str,
    page: PageDep,
) -> list[dict[str, Any]]:
    """Every write to one entity (e.g. entity_type=cadre), oldest first: who, when, what,
    before and after. Paged: `limit`, and the `Link: rel="next"` header while there is more.
    Read-only: no route changes the audit trail."""
    rows = await audit_log.audit_trail(session, entity_type, entity_id, page.after_int(), page.limit + 1)
    rows, cursor = split_page(rows, page, lambda r: [r["id"]])
    set_next_link(request, response, cursor)
    return rows


@router.get("/audit/pii-reads")
async def pii_read_log(
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: AuditReader,
    page: PageDep,
    entity_type: str | None = Query(None, max_length=50, description="e.g. cadre, payment_batch"),
    entity_id: str | None = Query(None, max_length=100),
    actor_client: str | None = Query(None, max_length=100, description="The OPD client that read"),
    after: int | None = Query(
        None,
        ge=0,
        le=2**63 - 1,
        description="Continue after this row id (`cursor` is the newer form)",
    ),
) -> list[dict[str, Any]]:
    """The PII read log, oldest first: every answer that showed personal data unmasked
    (who: OPD client and key; when; which entity; which fields; through which route).
    It holds no personal data itself. Read-only: no route changes it."""
    after_id = page.after_int() if page.cursor else after
    rows = await audit_log.pii_reads(
        session,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_client=actor_client,
        after_id=after_id,
        limit=page.limit + 1,
    )
    rows, cursor = split_page(rows, page, lambda r: [r["id"]])
    set_next_link(request, response, cursor)
    return rows


@router.get("/auth/whoami")
async def whoami(actor: Caller) -> dict[str, Any]:
    """The OPD client, scopes and label (for a person's key, their name) of the calling key, as
    this service knows them."""
    return {"client_id": actor.client_id, "key_id": actor.key_id, "scopes": sorted(actor.scopes), "label": actor.label}
