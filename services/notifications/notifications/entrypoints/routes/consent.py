"""The unsubscribe link at the end of every message to a cadre: no key (the token is
signed), a page in Indonesian, and a form POST for each change."""

from __future__ import annotations

import html
import json

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from notifications.config import ConfigDep, NotificationsConfig
from notifications.handlers import consent
from sikader_shared.deps import SessionDep
from sikader_shared.http import execute_write
from sikader_shared.ratelimit import public_route
from sikader_shared.uow import Actor, UnitOfWork

router = APIRouter(tags=["consent"], dependencies=[Depends(public_route)])

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


async def _change(request: Request, config: NotificationsConfig, token: str, subscribe: bool) -> str:
    """Run the change as a write (Idempotency-Key honoured); the channel it concerned."""

    async def op(uow: UnitOfWork) -> dict[str, str]:
        change = consent.resubscribe if subscribe else consent.unsubscribe
        _cadre, channel = await change(uow, config, token)
        return {"channel": channel}

    response = await execute_write(request, PUBLIC, op)
    return str(json.loads(bytes(response.body))["channel"])


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(token: str, session: SessionDep, config: ConfigDep) -> HTMLResponse:
    """The link at the end of every message to a cadre. GET only shows a confirmation page
    with a button (a mail scanner or a link preview that fetches the link changes nothing);
    the button POSTs. No key needed; the token is signed. Unknown or altered token: 404."""
    _cadre, channel, opted_out = await consent.consent_state(session, config, token)
    return HTMLResponse(consent_page(token, channel, opted_out, done=False))


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe(token: str, request: Request, config: ConfigDep) -> HTMLResponse:
    """Stops that channel for that cadre: the page's button, and RFC 8058 one-click
    unsubscribe (mail clients POST `List-Unsubscribe=One-Click`). Idempotent."""
    channel = await _change(request, config, token, subscribe=False)
    return HTMLResponse(consent_page(token, channel, opted_out=True, done=True))


@router.post("/unsubscribe/{token}/resubscribe", response_class=HTMLResponse)
async def resubscribe(token: str, request: Request, config: ConfigDep) -> HTMLResponse:
    """The cadre receives messages on that channel again (the same signed link). Idempotent."""
    channel = await _change(request, config, token, subscribe=True)
    return HTMLResponse(consent_page(token, channel, opted_out=False, done=True))
