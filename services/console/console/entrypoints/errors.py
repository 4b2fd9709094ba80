"""How the console answers when something stands in the way: not signed in (to /masuk), the
key revoked (the session ends), a form without its CSRF token (403), a service away (503)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from console.adapters.services import ServiceUnreachable, SignedOut
from console.domain.sessions import safe_next
from console.entrypoints.web import SESSION_COOKIE, CsrfFailed, NotSignedIn, render, see_other, store_of, tr
from console.handlers import sessions
from console.handlers.common import Refused


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(NotSignedIn, _not_signed_in)  # type: ignore[arg-type]
    app.add_exception_handler(SignedOut, _signed_out)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfFailed, _csrf_failed)  # type: ignore[arg-type]
    app.add_exception_handler(ServiceUnreachable, _unreachable)  # type: ignore[arg-type]
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]


async def _not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = see_other("/masuk" + (f"?next={target}" if request.method == "GET" and target != "/" else ""))
    if request.cookies.get(SESSION_COOKIE):
        response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _signed_out(request: Request, _exc: SignedOut) -> Response:
    """The services refused the key (revoked): end the session on the spot."""
    current = getattr(request.state, "current", None)
    if current is not None:
        await sessions.sign_out(store_of(request), current.visitor.token_hash)
    response = see_other("/masuk?ended=1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
    return render(request, "error.html", {"message": tr(request, "csrf_failed")}, status=403)


async def _unreachable(request: Request, exc: ServiceUnreachable) -> Response:
    return render(request, "error.html", {"message": tr(request, "service_unreachable", service=exc.service)}, 503)


async def _refused(request: Request, exc: Refused) -> Response:
    """A service's refusal of a read (a scope the key lacks, an unknown record): its reason."""
    key = "forbidden" if exc.status == 403 else "refused"
    return render(request, "error.html", {"message": tr(request, key, detail=exc.detail)}, status=exc.status)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    # where and what, never the submitted values
    problems = "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:]))}: {e.get('msg', '')}" for e in exc.errors())
    return render(request, "error.html", {"message": tr(request, "refused", detail=problems)}, status=422)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    key = "not_found" if exc.status_code == 404 else "refused"
    return render(request, "error.html", {"message": tr(request, key, detail=str(exc.detail))}, exc.status_code)


__all__ = ["install_error_pages", "safe_next"]
