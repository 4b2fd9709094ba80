"""Composing a delivery's message: the kept CloudEvent of a webhook, or a template rendered
for a cadre, a Puskesmas or an OPD inbox (the address decrypted only here, only for this send).
Its two refusals: `Skip` (nothing to send, by design) and `Undeliverable` (a failed attempt)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from notifications.adapters import repository as repo
from notifications.adapters.channels import OutgoingMessage
from notifications.adapters.tables import (
    BroadcastRow,
    CadreRow,
    DeliveryRow,
    PosyanduRow,
    ReceivedEventRow,
    SubscriptionRow,
)
from notifications.config import NotificationsConfig
from notifications.domain.deliveries import CADRE_RECIPIENTS, Contact, missing_address
from notifications.domain.signing import WebhookKeys, keys_at
from notifications.domain.templates import TemplateError
from sikader_shared.clock import utc
from sikader_shared.crypto import FieldCipherError
from sikader_shared.uow import UnitOfWork


class Skip(Exception):
    """Nothing to send, by design (unsubscribed, no address of that kind, deleted subscription)."""


class Undeliverable(Exception):
    """Cannot be sent now (contact details not received yet, template error): counts as a
    failed attempt; `permanent` gives up at once."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


async def compose(uow: UnitOfWork, config: NotificationsConfig, row: DeliveryRow) -> tuple[OutgoingMessage, str | None]:
    """The message of a delivery and the correlation id of the event it is about."""
    received = await repo.kept_event(uow.session, row.source_event_id) if row.source_event_id else None
    correlation = received.headers.get("ce_correlationid") if received else None
    if row.channel == "webhook":
        return await webhook_message(uow, row, received), correlation
    settings = config.settings
    gateways = {"sms": settings.sms_gateway_url, "whatsapp": settings.whatsapp_gateway_url}
    if row.channel in gateways and not gateways[row.channel]:
        raise Skip(f"no {row.channel} gateway configured")
    to, label = await _address(uow, config, row)
    context = await _context(uow, config, row, received, label)
    try:
        text = config.templates.render(row.template or "", row.language, context)
    except TemplateError as exc:
        raise Undeliverable(str(exc), permanent=True) from exc
    if row.channel != "email":
        return OutgoingMessage(row.notification_id, row.channel, to, text=text.short), correlation
    headers = {}
    if context.get("unsubscribe_url"):
        headers["List-Unsubscribe"] = f"<{context['unsubscribe_url']}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"  # RFC 8058: POST, never GET
    message = OutgoingMessage(row.notification_id, "email", to, subject=text.subject, text=text.body, headers=headers)
    return message, correlation


async def webhook_message(uow: UnitOfWork, row: DeliveryRow, received: ReceivedEventRow | None) -> OutgoingMessage:
    """The kept CloudEvent, byte for byte, with its ce-* headers, to the subscription's URL."""
    sub = await uow.session.get(SubscriptionRow, row.subscription_id or "")
    if sub is None:
        raise Skip("subscription deleted")
    if received is None:
        raise Undeliverable("source event not kept", permanent=True)
    keys = signing_keys(sub, uow.clock.now())
    return kept_event_message(sub, keys, row.notification_id, received.event_id, received.headers, received.payload)


def kept_event_message(
    sub: SubscriptionRow, keys: WebhookKeys, notification_id: str, event_id: str, headers: dict[str, str], payload: str
) -> OutgoingMessage:
    """A webhook of a kept event: its ce_* headers as ce-*, its JSON as the body."""
    ce = {f"ce-{k[3:]}": v for k, v in headers.items() if k.startswith("ce_")}
    return OutgoingMessage(
        notification_id, "webhook", sub.url, body=payload.encode("utf-8"), headers=ce, keys=keys, webhook_id=event_id
    )


def signing_keys(sub: SubscriptionRow, now: datetime) -> WebhookKeys:
    """The secrets that sign the subscription's webhooks at `now`."""
    previous_until = utc(sub.previous_until) if sub.previous_until else None
    legacy_until = utc(sub.legacy_until) if sub.legacy_until else None
    return keys_at(sub.secret, sub.previous_secret, previous_until, sub.legacy_secret, legacy_until, now)


async def _address(uow: UnitOfWork, config: NotificationsConfig, row: DeliveryRow) -> tuple[str, str]:
    """The recipient's address (decrypted only here, only for this send) and a label."""
    if row.recipient_type in CADRE_RECIPIENTS:
        return await _cadre_address(uow, config, row)
    if row.recipient_type == "puskesmas":
        mailbox = config.settings.puskesmas_inboxes.get(row.recipient_id)
        if not mailbox:
            raise Skip("no mailbox configured for this Puskesmas")
        return mailbox, row.recipient_id
    if row.recipient_type == "opd_inbox":
        inbox = next((i for i in config.inboxes if i.id == row.recipient_id), None)
        if inbox is None:
            raise Skip("OPD inbox no longer configured")
        return inbox.email, inbox.id.upper()
    raise Undeliverable(f"unknown recipient type {row.recipient_type}", permanent=True)


async def _cadre_address(uow: UnitOfWork, config: NotificationsConfig, row: DeliveryRow) -> tuple[str, str]:
    if await repo.is_opted_out(uow.session, row.recipient_id, row.channel):
        raise Skip("unsubscribed")
    contact = await repo.contact_of(uow.session, row.recipient_id)
    if contact is None:
        raise Undeliverable("no contact details received for this cadre yet")
    token = Contact(contact.email_enc, contact.phone_enc).token_for(row.channel)
    if token is None:
        raise Skip(missing_address(row.channel))
    if config.cipher is None:  # no contact key: the message waits for one (SIKADER_CONTACT_KEY)
        raise Undeliverable("no contact key configured")
    try:
        address = config.cipher.decrypt(token)
    except FieldCipherError as exc:
        raise Undeliverable("contact details do not decrypt with the configured key") from exc
    cadre = await uow.session.get(CadreRow, row.recipient_id)
    return str(address), (cadre.name if cadre and cadre.name else "Kader")


async def _context(
    uow: UnitOfWork, config: NotificationsConfig, row: DeliveryRow, received: ReceivedEventRow | None, label: str
) -> dict[str, Any]:
    session = uow.session
    payload: dict[str, Any] = json.loads(received.payload) if received else {}
    cadre_id = payload.get("cadre_id") or (row.recipient_id if row.broadcast_id else None)
    cadre = await session.get(CadreRow, cadre_id) if cadre_id else None
    posyandu_id = payload.get("posyandu_id") or (cadre.posyandu_id if cadre else None)
    posyandu = await session.get(PosyanduRow, posyandu_id) if posyandu_id else None
    context: dict[str, Any] = {
        "event": payload,
        "event_type": row.source_event_type,
        "cadre_name": (cadre.name if cadre else None) or payload.get("cadre_name"),
        "posyandu_name": (posyandu.name if posyandu else None) or payload.get("name"),
        "recipient_type": row.recipient_type,
        "recipient_label": label,
        "signature": config.settings.signature,
        "unsubscribe_url": None,
        "title": "",
        "message": "",
    }
    if row.recipient_type in CADRE_RECIPIENTS:
        context["unsubscribe_url"] = config.unsubscribe_url(row.recipient_id, row.channel)
    if row.broadcast_id:
        broadcast = await session.get(BroadcastRow, row.broadcast_id)
        if broadcast is None:
            raise Skip("broadcast removed")
        context.update(title=broadcast.title, message=broadcast.message)
    return context
