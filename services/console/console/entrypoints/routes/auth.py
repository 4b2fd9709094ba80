"""Sign-in (/masuk), sign-out (/keluar), the language toggle (/bahasa) and the home page."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from console.config import ConfigDep
from console.domain.sessions import safe_next, token_hash
from console.domain.texts import LANGUAGES
from console.entrypoints.web import (
    LANG_COOKIE,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    ClientDep,
    CsrfFailed,
    FormChecked,
    StoreDep,
    client_address,
    render,
    see_other,
    tr,
)
from console.handlers import sessions

router = APIRouter(tags=["pages"], include_in_schema=False)


def _sign_in_page(request: Request, next_path: str, error: str = "", notice: str = "", status: int = 200) -> Response:
    """The form, with a fresh sign-in CSRF token (double submit: cookie and hidden field)."""
    token = secrets.token_urlsafe(24)
    context = {"signin_csrf": token, "next_path": next_path, "error": error, "notice": notice}
    response = render(request, "masuk.html", context, status=status)
    secure = request.app.state.settings.secure_cookies
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=secure, path="/masuk")
    return response


@router.get("/", response_class=HTMLResponse)
async def home() -> Response:
    return see_other("/peta")


@router.get("/masuk", response_class=HTMLResponse)
async def sign_in_page(
    request: Request,
    next_path: Annotated[str, Query(alias="next", max_length=500)] = "/peta",
    ended: Annotated[int, Query(ge=0, le=1)] = 0,
    out: Annotated[int, Query(ge=0, le=1)] = 0,
) -> Response:
    notice = tr(request, "session_ended") if ended else tr(request, "signed_out") if out else ""
    return _sign_in_page(request, safe_next(next_path), notice=notice)


@router.post("/masuk", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    config: ConfigDep,
    store: StoreDep,
    client: ClientDep,
    api_key: Annotated[str, Form(max_length=500)] = "",
    csrf_token: Annotated[str, Form(max_length=100)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "/peta",
) -> Response:
    expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        raise CsrfFailed()
    try:
        token = await sessions.sign_in(store, client, config, api_key, client_address(request))
    except sessions.SignInRefused as refused:
        error = tr(request, refused.reason, **refused.values)
        return _sign_in_page(request, safe_next(next_path), error=error, status=refused.status)
    previous = request.cookies.get(SESSION_COOKIE)
    if previous:  # signing in again ends the session the browser had
        await sessions.sign_out(store, token_hash(previous))
    response = see_other(safe_next(next_path))
    settings = config.settings
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_absolute_hours * 3600,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies,
        path="/",
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/masuk")
    return response


@router.post("/keluar")
async def sign_out(request: Request, current: FormChecked, store: StoreDep) -> Response:
    await sessions.sign_out(store, current.visitor.token_hash)
    response = see_other("/masuk?out=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/bahasa/{lang}")
async def set_language(
    request: Request, lang: str, next_path: Annotated[str, Query(alias="next", max_length=500)] = "/peta"
) -> Response:
    """The language toggle: a preference cookie (no session needed, nothing secret)."""
    response = see_other(safe_next(next_path))
    if lang in LANGUAGES:
        secure = request.app.state.settings.secure_cookies
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", secure=secure, path="/")
    return response
