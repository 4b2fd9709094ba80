"""HTTP routes: thin; parse, authorise, call a handler through execute_write, shape the answer."""

from __future__ import annotations

import html
import json
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import select
from sqlmodel import col

from notifications import handlers
from notifications.adapters import repository as repo
from notifications.adapters.tables import BroadcastRow, DeliveryRow, SubscriptionRow
from notifications.config import NotificationConfig
from notifications.domain.subscriptions import SUBSCRIBABLE
from notifications.entrypoints.schemas import (
    BroadcastCreate,
    BroadcastPublic,
    BroadcastStarted,
    DeliveryPublic,
    RedeliverRequest,
    RedeliverResult,
    RulesView,
    SubscriptionCreate,
    SubscriptionDeleted,
    SubscriptionPublic,
)
from sikader_shared.auth import require
from sikader_shared.clock import utc
from sikader_shared.errors import NotFound
from sikader_shared.http import execute_write
from sikader_shared.ratelimit import public_route
from sikader_shared.uow import Actor, UnitOfWork

SUBSCRIBE = "notifications:subscribe"
BROADCAST = "notifications:broadcast"
PUBLIC = Actor(client_id="public")  # who unsubscribes through a signed link (no key)
CHANNEL_NAMES = {"email": "email", "sms": "SMS", "whatsapp": "WhatsApp"}


def consent_page(token: str, channel: str, opted_out: bool, done: bool) -> str:
    """The unsubscribe page, in Indonesian: where the cadre stands on this channel and the one
    button that changes it (a form POST; no script)."""
    name = html.escape(CHANNEL_NAMES.get(channel, channel))
    quoted = html.escape(token, quote=True)
    if opted_out:
        head = "Berhasil berhenti berlangganan" if done else "Anda sudah berhenti berlangganan"
        text = f"Anda tidak akan lagi menerima pesan SIKADER melalui {name}."
        action, button = f"/unsubscribe/{quoted}/resubscribe", f"Berlangganan lagi melalui {name}"
    else:
        head = "Berhasil berlangganan lagi" if done else "Berhenti berlangganan?"
        text = (
            f"Anda akan menerima pesan SIKADER melalui {name} lagi."
            if done
            else f"Tekan tombol di bawah ini untuk berhenti menerima pesan SIKADER melalui {name}."
        )
        action, button = f"/unsubscribe/{quoted}", f"Berhenti menerima pesan melalui {name}"
    return (
        "<!doctype html><html lang='id'><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>SIKADER: {html.escape(head)}</title><body><h1>{html.escape(head)}</h1><p>{text}</p>"
        f"<form method='post' action='{action}'><button type='submit'>{button}</button></form></body></html>"
    )
DeliveryStatus = Literal["pending", "delivered", "failed", "skipped"]


def _ts(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def delivery_view(row: DeliveryRow) -> DeliveryPublic:
    return DeliveryPublic(
        notification_id=row.notification_id,
        source_event_id=row.source_event_id,
        source_event_type=row.source_event_type,
        recipient_type=row.recipient_type,
        recipient_id=row.recipient_id,
        channel=row.channel,
        replay_id=row.replay_id or None,
        broadcast_id=row.broadcast_id,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=_ts(row.next_attempt_at) if row.status == "pending" else None,
        created_at=utc(row.created_at),
        delivered_at=_ts(row.delivered_at),
        failed_at=_ts(row.failed_at),
    )


async def broadcast_view(session: Any, row: BroadcastRow) -> BroadcastPublic:
    progress = await repo.status_counts(session, col(DeliveryRow.broadcast_id) == row.id)
    return BroadcastPublic(
        id=row.id,
        client_id=row.client_id,
        title=row.title,
        channels=row.channels,
        kecamatan_codes=row.kecamatan_codes,
        kelurahan_codes=row.kelurahan_codes,
        roles=row.roles,
        rate_per_minute=row.rate_per_minute,
        recipients=row.recipients,
        status=row.status,
        progress=progress,
        tally=row.tally,
        created_at=utc(row.created_at),
        completed_at=_ts(row.completed_at),
    )


def build_router(cfg: NotificationConfig) -> APIRouter:
    router = APIRouter()

    # -- subscriptions ---------------------------------------------------------------------

    @router.post("/subscriptions", status_code=201, response_model=SubscriptionPublic, tags=["subscriptions"])
    async def create_subscription(
        body: SubscriptionCreate, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> JSONResponse:
        """Register a webhook: each matching event is POSTed as a CloudEvent (HTTP binary
        mode), signed with HMAC-SHA256 over `timestamp + "." + body` (headers
        X-Sikader-Timestamp, X-Sikader-Signature). The secret is never shown again."""

        async def op(uow: UnitOfWork) -> dict[str, Any]:
            return await handlers.create_subscription(
                uow,
                str(body.url),
                body.secret,
                body.event_types,
                body.kecamatan_codes,
                body.kelurahan_codes,
                body.description,
                cfg.settings.webhook_allow_private_networks,
            )

        return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))

    @router.get("/subscriptions", response_model=list[SubscriptionPublic], tags=["subscriptions"])
    async def list_subscriptions(request: Request, actor: Actor = Depends(require(SUBSCRIBE))) -> list[dict[str, Any]]:
        """The calling OPD client's own subscriptions."""
        async with request.app.state.runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(SubscriptionRow)
                    .where(col(SubscriptionRow.client_id) == actor.client_id)
                    .order_by(col(SubscriptionRow.created_at))
                )
            ).scalars()
            return [handlers.subscription_view(r) for r in rows]

    @router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic, tags=["subscriptions"])
    async def get_subscription(
        subscription_id: str, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> dict[str, Any]:
        async with request.app.state.runtime.uow(actor=actor) as uow:
            return handlers.subscription_view(await handlers.get_subscription(uow, subscription_id))

    @router.post("/subscriptions/{subscription_id}/pause", response_model=SubscriptionPublic, tags=["subscriptions"])
    async def pause_subscription(
        subscription_id: str, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> JSONResponse:
        """Hold deliveries: events keep being queued and go out, in order, after resume."""
        return await execute_write(
            request, actor, lambda uow: handlers.set_subscription_status(uow, subscription_id, "paused")
        )

    @router.post("/subscriptions/{subscription_id}/resume", response_model=SubscriptionPublic, tags=["subscriptions"])
    async def resume_subscription(
        subscription_id: str, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> JSONResponse:
        return await execute_write(
            request, actor, lambda uow: handlers.set_subscription_status(uow, subscription_id, "active")
        )

    @router.delete("/subscriptions/{subscription_id}", response_model=SubscriptionDeleted, tags=["subscriptions"])
    async def delete_subscription(
        subscription_id: str, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> JSONResponse:
        return await execute_write(request, actor, lambda uow: handlers.delete_subscription(uow, subscription_id))

    @router.get(
        "/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryPublic], tags=["subscriptions"]
    )
    async def subscription_deliveries(
        subscription_id: str,
        request: Request,
        status: DeliveryStatus | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        actor: Actor = Depends(require(SUBSCRIBE)),
    ) -> list[DeliveryPublic]:
        """This subscription's delivery log, oldest first."""
        async with request.app.state.runtime.uow(actor=actor) as uow:
            sub = await handlers.get_subscription(uow, subscription_id)
            query = select(DeliveryRow).where(col(DeliveryRow.subscription_id) == sub.id)
            if status:
                query = query.where(col(DeliveryRow.status) == status)
            query = query.order_by(col(DeliveryRow.id)).offset(offset).limit(limit)
            return [delivery_view(r) for r in (await uow.session.execute(query)).scalars()]

    @router.post(
        "/subscriptions/{subscription_id}/redeliver",
        status_code=202,
        response_model=RedeliverResult,
        tags=["subscriptions"],
    )
    async def redeliver(
        subscription_id: str, body: RedeliverRequest, request: Request, actor: Actor = Depends(require(SUBSCRIBE))
    ) -> JSONResponse:
        """Queue the events kept since a date again for this subscription, in order. The
        webhook carries the same ce-id, so a receiver that already has one can drop it."""
        return await execute_write(
            request,
            actor,
            lambda uow: handlers.redeliver(uow, subscription_id, body.since, body.until, body.event_types),
            status_code=202,
            body=body.model_dump(mode="json"),
        )

    # -- broadcasts ------------------------------------------------------------------------

    @router.post("/broadcasts", status_code=201, response_model=BroadcastStarted, tags=["broadcasts"])
    async def start_broadcast(
        body: BroadcastCreate, request: Request, actor: Actor = Depends(require(BROADCAST))
    ) -> JSONResponse:
        """Send a programme announcement to active cadres by kecamatan / kelurahan / role,
        paced at `rate_per_minute`; follow it with GET /broadcasts/{id}."""

        async def op(uow: UnitOfWork) -> dict[str, Any]:
            return await handlers.start_broadcast(
                uow,
                cfg,
                body.title,
                body.message,
                body.channels,
                body.kecamatan_codes,
                body.kelurahan_codes,
                body.roles,
                body.rate_per_minute,
            )

        return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))

    @router.get("/broadcasts", response_model=list[BroadcastPublic], tags=["broadcasts"])
    async def list_broadcasts(request: Request, actor: Actor = Depends(require(BROADCAST))) -> list[BroadcastPublic]:
        async with request.app.state.runtime.sessions() as session:
            rows = (
                await session.execute(
                    select(BroadcastRow)
                    .where(col(BroadcastRow.client_id) == actor.client_id)
                    .order_by(col(BroadcastRow.created_at))
                )
            ).scalars()
            return [await broadcast_view(session, r) for r in list(rows)]

    @router.get("/broadcasts/{broadcast_id}", response_model=BroadcastPublic, tags=["broadcasts"])
    async def get_broadcast(
        broadcast_id: str, request: Request, actor: Actor = Depends(require(BROADCAST))
    ) -> BroadcastPublic:
        """Progress (messages by state) and, once nothing is pending, the final tally."""
        async with request.app.state.runtime.sessions() as session:
            row = await session.get(BroadcastRow, broadcast_id)
            if row is None or (row.client_id != actor.client_id and not actor.has("admin")):
                raise NotFound(f"no broadcast {broadcast_id}")
            return await broadcast_view(session, row)

    # -- consent ---------------------------------------------------------------------------

    async def _consent_write(token: str, request: Request, subscribe: bool) -> str:
        async def op(uow: UnitOfWork) -> dict[str, str]:
            change = handlers.resubscribe if subscribe else handlers.unsubscribe
            _cadre, channel = await change(uow, cfg, token)
            return {"channel": channel}

        response = await execute_write(request, PUBLIC, op)
        return str(json.loads(bytes(response.body))["channel"])

    @router.get(
        "/unsubscribe/{token}", response_class=HTMLResponse, tags=["consent"], dependencies=[Depends(public_route)]
    )
    async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
        """The link at the end of every message to a cadre. GET only shows a confirmation page
        with a button (a mail scanner or a link preview that fetches the link changes nothing);
        the button POSTs. No key needed; the token is signed. Unknown or altered token: 404."""
        async with request.app.state.runtime.sessions() as session:
            _cadre, channel, opted_out = await handlers.consent_state(session, cfg, token)
        return HTMLResponse(consent_page(token, channel, opted_out, done=False))

    @router.post(
        "/unsubscribe/{token}", response_class=HTMLResponse, tags=["consent"], dependencies=[Depends(public_route)]
    )
    async def unsubscribe(token: str, request: Request) -> HTMLResponse:
        """Stops that channel for that cadre: the page's button, and RFC 8058 one-click
        unsubscribe (mail clients POST `List-Unsubscribe=One-Click`). Idempotent."""
        channel = await _consent_write(token, request, subscribe=False)
        return HTMLResponse(consent_page(token, channel, opted_out=True, done=True))

    @router.post(
        "/unsubscribe/{token}/resubscribe",
        response_class=HTMLResponse,
        tags=["consent"],
        dependencies=[Depends(public_route)],
    )
    async def resubscribe(token: str, request: Request) -> HTMLResponse:
        """The cadre receives messages on that channel again (the same signed link). Idempotent."""
        channel = await _consent_write(token, request, subscribe=True)
        return HTMLResponse(consent_page(token, channel, opted_out=False, done=True))

    # -- operators -------------------------------------------------------------------------

    @router.get("/deliveries", response_model=list[DeliveryPublic], tags=["operators"])
    async def list_deliveries(
        request: Request,
        source_event_id: str | None = None,
        recipient_type: str | None = None,
        status: DeliveryStatus | None = None,
        limit: int = Query(100, ge=1, le=1000),
        offset: int = Query(0, ge=0),
        _actor: Actor = Depends(require("admin")),
    ) -> list[DeliveryPublic]:
        """Every delivery (cadres, head cadres, Puskesmas, OPD inboxes, subscriptions)."""
        query = select(DeliveryRow)
        if source_event_id:
            query = query.where(col(DeliveryRow.source_event_id) == source_event_id)
        if recipient_type:
            query = query.where(col(DeliveryRow.recipient_type) == recipient_type)
        if status:
            query = query.where(col(DeliveryRow.status) == status)
        async with request.app.state.runtime.sessions() as session:
            rows = (await session.execute(query.order_by(col(DeliveryRow.id)).offset(offset).limit(limit))).scalars()
            return [delivery_view(r) for r in rows]

    @router.get("/rules", response_model=RulesView, tags=["operators"])
    async def rules(_actor: Actor = Depends(require("admin"))) -> RulesView:
        """The routing rules, configured mailboxes (ids only) and templates in force."""
        return RulesView(
            rules=[r.model_dump() for r in cfg.rules],
            opd_inboxes=[{"id": i.id, "language": i.language, "events": i.events} for i in cfg.inboxes],
            puskesmas_inboxes=sorted(cfg.settings.puskesmas_inboxes),
            templates={lang: cfg.templates.codes(lang) for lang in ("id", "en")},
            subscribable_event_types=sorted(SUBSCRIBABLE.values()),
        )

    return router
