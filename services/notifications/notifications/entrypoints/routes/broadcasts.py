"""Programme announcements to cadres (`notifications:broadcast`): the caller's own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from notifications.config import ConfigDep
from notifications.entrypoints.schemas import BroadcastCreate, BroadcastPublic, BroadcastStarted
from notifications.handlers import broadcasts
from sikader_shared.deps import Broadcaster, SessionDep
from sikader_shared.http import execute_write
from sikader_shared.paging import PageDep, set_next_link, split_page
from sikader_shared.uow import UnitOfWork

if TYPE_CHECKING:
    from notifications.adapters.tables import BroadcastRow

router = APIRouter(tags=["broadcasts"])


def _public(row: BroadcastRow, progress: dict[str, int]) -> BroadcastPublic:
    return BroadcastPublic.model_validate({**row.model_dump(), "progress": progress})


@router.post("/broadcasts", status_code=201, response_model=BroadcastStarted)
async def start_broadcast(
    body: BroadcastCreate, request: Request, actor: Broadcaster, config: ConfigDep
) -> JSONResponse:
    """Send a programme announcement to active cadres by kecamatan / kelurahan / role,
    paced at `rate_per_minute`; follow it with GET /broadcasts/{id}."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        started = await broadcasts.start_broadcast(
            uow,
            config,
            body.title,
            body.message,
            body.channels,
            body.kecamatan_codes,
            body.kelurahan_codes,
            body.roles,
            body.rate_per_minute,
        )
        return BroadcastStarted.model_validate(started).model_dump()

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.get("/broadcasts", response_model=list[BroadcastPublic])
async def list_broadcasts(
    request: Request, response: Response, session: SessionDep, actor: Broadcaster, page: PageDep
) -> list[BroadcastPublic]:
    """The calling OPD client's own broadcasts, oldest first. Paged: `limit`, and the
    `Link: rel="next"` header while there is more."""
    found = await broadcasts.list_broadcasts(session, actor, page.after(), page.limit + 1)
    found, cursor = split_page(found, page, lambda item: broadcasts.page_key(item[0]))
    set_next_link(request, response, cursor)
    return [_public(row, progress) for row, progress in found]


@router.get("/broadcasts/{broadcast_id}", response_model=BroadcastPublic)
async def get_broadcast(broadcast_id: str, session: SessionDep, actor: Broadcaster) -> BroadcastPublic:
    """Progress (messages by state) and, once nothing is pending, the final tally."""
    return _public(*await broadcasts.get_broadcast(session, actor, broadcast_id))
