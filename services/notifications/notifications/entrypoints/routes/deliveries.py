"""The delivery log for operators (`admin`): every recipient and channel."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from notifications.entrypoints.schemas import DeliveryPublic
from notifications.handlers import deliveries
from notifications.handlers.deliveries import DeliveryFilter
from sikader_shared.deps import Admin, SessionDep
from sikader_shared.paging import PageDep, set_next_link, split_page

router = APIRouter(tags=["operators"])

DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]
OFFSET_DESCRIPTION = "Skip this many rows (the older form of paging; a `cursor` supersedes it)"


@router.get("/deliveries", response_model=list[DeliveryPublic])
async def list_deliveries(
    request: Request,
    response: Response,
    session: SessionDep,
    _actor: Admin,
    page: PageDep,
    source_event_id: str | None = None,
    recipient_type: str | None = None,
    status: DeliveryStatus | None = None,
    offset: int = Query(0, ge=0, description=OFFSET_DESCRIPTION),
) -> list[DeliveryPublic]:
    """Every delivery (cadres, head cadres, Puskesmas, OPD inboxes, subscriptions), oldest
    first. Paged: `limit`, and the `Link: rel="next"` header while there is more."""
    where = DeliveryFilter(source_event_id=source_event_id, recipient_type=recipient_type, status=status)
    rows = await deliveries.list_deliveries(session, where, after=page.after(), offset=offset, limit=page.limit + 1)
    rows, cursor = split_page(rows, page, deliveries.page_key)
    set_next_link(request, response, cursor)
    return [DeliveryPublic.model_validate(r) for r in rows]
