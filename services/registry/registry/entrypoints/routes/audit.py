"""The audit trail per Posyandu (beside the platform's /audit per entity)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from registry.handlers import posyandu
from sikader_shared.clock import utc
from sikader_shared.deps import AuditReader, SessionDep
from sikader_shared.paging import Page, paging, set_next_link

router = APIRouter(prefix="/audit", tags=["platform"])


@router.get("/posyandu/{posyandu_id}")
async def posyandu_audit(
    posyandu_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: AuditReader,
    page: Annotated[Page, Depends(paging(100, 1000))],
    after: int | None = Query(None, ge=0, le=2**63 - 1, description="Continue after this audit row id"),
) -> list[dict[str, Any]]:
    """Everything written about one Posyandu, oldest first: its own writes and every
    write to a cadre whose before or after state names it (including moves in and out).
    Who (client and key), when, what, before and after. Read-only, like /audit."""
    rows, cursor = await posyandu.audit_trail(session, posyandu_id, page, after)
    set_next_link(request, response, cursor)
    return [
        {
            "id": r.id,
            "at": utc(r.at),
            "actor_client": r.actor_client,
            "actor_key": r.actor_key,
            "action": r.action,
            "entity_type": r.entity_type,
            "entity_id": r.entity_id,
            "before": r.before,
            "after": r.after,
            "correlation_id": r.correlation_id,
        }
        for r in rows
    ]
