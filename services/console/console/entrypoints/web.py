"""What every console route needs: the signed-in person (SignedIn), the form's CSRF check
(FormChecked), the services' client, the session store and the page renderer."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.adapters.services import ServiceClient
from console.config import ConsoleConfig, get_config
from console.domain.incentives import rupiah
from console.domain.sessions import Visitor
from console.domain.texts import LANGUAGES, text
from console.handlers import sessions
from console.handlers.sessions import Current, Store

SESSION_COOKIE = "sikader_console"
LANG_COOKIE = "sikader_lang"
SIGNIN_CSRF_COOKIE = "sikader_signin_csrf"
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent.parent / "templates"))
TEMPLATES.env.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))
TEMPLATES.env.globals["rupiah"] = rupiah


class NotSignedIn(Exception):
    """No live session: the page redirects to /masuk."""


class CsrfFailed(Exception):
    """A form without this session's CSRF token: 403."""


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def client_of(request: Request) -> ServiceClient:
    client: ServiceClient = request.app.state.client
    return client


StoreDep = Annotated[Store, Depends(store_of)]
ClientDep = Annotated[ServiceClient, Depends(client_of)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "127.0.0.1"


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "id")
    return lang if lang in LANGUAGES else "id"


async def signed_in(request: Request) -> Current:
    config: ConsoleConfig = get_config(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    correlation = request.headers.get("x-correlation-id", "")
    found = await sessions.current(store_of(request), config, token, client_address(request), correlation)
    if found is None:
        raise NotSignedIn()
    request.state.current = found
    return found


SignedIn = Annotated[Current, Depends(signed_in)]


async def form_checked(request: Request, current: SignedIn) -> Current:
    """The session, once the posted form carries its CSRF token."""
    form = await request.form()
    sent = str(form.get("csrf_token") or "")
    if not sent or not secrets.compare_digest(sent, current.visitor.csrf_token):
        raise CsrfFailed()
    return current


FormChecked = Annotated[Current, Depends(form_checked)]


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    visitor: Visitor | None = None,
) -> HTMLResponse:
    """A page in the visitor's language, with the layout's parts (nav, who, CSRF, message)."""
    lang = language(request)
    config: ConsoleConfig = get_config(request)
    current: Current | None = getattr(request.state, "current", None)
    visitor = visitor or (current.visitor if current else None)

    def t(key: str, **values: object) -> str:
        return text(key, lang, **values)

    base = {
        "lang": lang,
        "t": t,
        "visitor": visitor,
        "csrf_token": visitor.csrf_token if visitor else "",
        "flash": visitor.flash if visitor else None,
        "path": request.url.path,
        "query": request.url.query,
        "settings": config.settings,
    }
    return TEMPLATES.TemplateResponse(request, template, base | (context or {}), status_code=status)


def see_other(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


async def flash_and_redirect(request: Request, current: Current, kind: str, message: str, path: str) -> Response:
    await sessions.set_flash(store_of(request), current.visitor.token_hash, kind, message)
    return see_other(path)


def tr(request: Request, key: str, **values: object) -> str:
    return text(key, language(request), **values)


# Ids of the services' records in a console path: letters, digits and dashes only, so a path
# can never reach another route of a service.
RecordId = Annotated[str, PathParam(pattern=r"^[0-9A-Za-z_-]{1,64}$")]
