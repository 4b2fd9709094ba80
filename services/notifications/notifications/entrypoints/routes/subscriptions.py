"""Webhook subscriptions of outside systems: the caller's own (`notifications:subscribe`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from notifications.config import ConfigDep
from notifications.entrypoints.schemas import (
    DeliveryPublic,
    RedeliverRequest,
    RedeliverResult,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionDeleted,
    SubscriptionPublic,
)
from notifications.handlers import subscriptions
from notifications.handlers.deliveries import page_key as delivery_key
from sikader_shared.deps import SessionDep, Subscriber
from sikader_shared.http import execute_write
from sikader_shared.paging import PageDep, set_next_link, split_page
from sikader_shared.uow import Actor, UnitOfWork

router = APIRouter(tags=["subscriptions"])

DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]
OFFSET_DESCRIPTION = "Skip this many rows (the older form of paging; a `cursor` supersedes it)"


@router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    body: SubscriptionCreate, request: Request, actor: Subscriber, config: ConfigDep
) -> JSONResponse:
    """Register a webhook: each matching event is POSTed as a CloudEvent (HTTP binary
    mode), signed as Standard Webhooks say (webhook-id, webhook-timestamp, webhook-signature).
    The answer carries the generated `whsec_` secret: it is never shown again."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        row = await subscriptions.create_subscription(
            uow,
            str(body.url),
            body.secret,
            body.event_types,
            body.kecamatan_codes,
            body.kelurahan_codes,
            body.description,
            config.settings.webhook_allow_private_networks,
        )
        return SubscriptionCreated.model_validate(row).model_dump()

    return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))


@router.post("/subscriptions/{subscription_id}/secret/rotate", response_model=SecretRotated)
async def rotate_secret(subscription_id: str, request: Request, actor: Subscriber, config: ConfigDep) -> JSONResponse:
    """A new `whsec_` secret, shown only in this answer. Until `previous_secret_expires_at`
    (the grace period) each webhook carries two signatures, by the new secret and the
    replaced one; a subscription made before Standard Webhooks also keeps its deprecated
    X-Sikader-* headers until then, and none after."""
    grace = timedelta(seconds=config.settings.webhook_secret_grace_s)

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        row = await subscriptions.rotate_secret(uow, subscription_id, grace)
        result = {"id": row.id, "secret": row.secret, "previous_secret_expires_at": row.previous_until}
        return SecretRotated.model_validate(result).model_dump()

    return await execute_write(request, actor, op)


@router.get("/subscriptions", response_model=list[SubscriptionPublic])
async def list_subscriptions(
    request: Request,
    response: Response,
    session: SessionDep,
    actor: Subscriber,
    page: PageDep,
) -> list[SubscriptionPublic]:
    """The calling OPD client's own subscriptions, oldest first. Paged: `limit`, and the
    `Link: rel="next"` header while there is more."""
    rows = await subscriptions.list_subscriptions(session, actor, page.after(), page.limit + 1)
    rows, cursor = split_page(rows, page, subscriptions.page_key)
    set_next_link(request, response, cursor)
    return [SubscriptionPublic.model_validate(r) for r in rows]


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic)
async def get_subscription(subscription_id: str, session: SessionDep, actor: Subscriber) -> SubscriptionPublic:
    return SubscriptionPublic.model_validate(await subscriptions.get_subscription(session, actor, subscription_id))


async def _set_status(request: Request, actor: Actor, subscription_id: str, status: str) -> JSONResponse:
    async def op(uow: UnitOfWork) -> dict[str, Any]:
        row = await subscriptions.set_subscription_status(uow, subscription_id, status)
        return SubscriptionPublic.model_validate(row).model_dump()

    return await execute_write(request, actor, op)


@router.post("/subscriptions/{subscription_id}/pause", response_model=SubscriptionPublic)
async def pause_subscription(subscription_id: str, request: Request, actor: Subscriber) -> JSONResponse:
    """Hold deliveries: events keep being queued and go out, in order, after resume."""
    return await _set_status(request, actor, subscription_id, "paused")


@router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionPublic)
async def resume_subscription(subscription_id: str, request: Request, actor: Subscriber) -> JSONResponse:
    return await _set_status(request, actor, subscription_id, "active")


@router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionDeleted)
async def delete_subscription(subscription_id: str, request: Request, actor: Subscriber) -> JSONResponse:
    async def op(uow: UnitOfWork) -> dict[str, Any]:
        result = await subscriptions.delete_subscription(uow, subscription_id)
        return SubscriptionDeleted.model_validate(result).model_dump()

    return await execute_write(request, actor, op)


@router.get("/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryPublic])
async def subscription_deliveries(
    subscription_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    actor: Subscriber,
    page: PageDep,
    status: DeliveryStatus | None = None,
    offset: int = Query(0, ge=0, description=OFFSET_DESCRIPTION),
) -> list[DeliveryPublic]:
    """This subscription's delivery log, oldest first. Paged: `limit`, and the
    `Link: rel="next"` header while there is more."""
    rows = await subscriptions.subscription_deliveries(
        session, actor, subscription_id, status, after=page.after(), offset=offset, limit=page.limit + 1
    )
    rows, cursor = split_page(rows, page, delivery_key)
    set_next_link(request, response, cursor)
    return [DeliveryPublic.model_validate(r) for r in rows]


@router.post("/subscriptions/{subscription_id}/redeliver", status_code=202, response_model=RedeliverResult)
async def redeliver(subscription_id: str, body: RedeliverRequest, request: Request, actor: Subscriber) -> JSONResponse:
    """Queue the events kept since a date again for this subscription, in order. The
    webhook carries the same ce-id, so a receiver that already has one can drop it."""

    async def op(uow: UnitOfWork) -> dict[str, Any]:
        result = await subscriptions.redeliver(uow, subscription_id, body.since, body.until, body.event_types)
        return RedeliverResult.model_validate(result).model_dump()

    return await execute_write(request, actor, op, status_code=202, body=body.model_dump(mode="json"))
