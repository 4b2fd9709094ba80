"""The console's one wiring point: settings -> config -> FastAPI app (session store, the
services' client, security headers, routes, static files). No broker: the console publishes
and consumes nothing."""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from console.adapters.services import ServiceClient
from console.config import ConsoleConfig
from console.entrypoints.errors import install_error_pages
from console.entrypoints.routes import ROUTERS
from console.entrypoints.routes.platform import ConsoleMetrics, docs_csp
from console.settings import ConsoleSettings
from sikader_shared.db import make_engine, session_factory
from sikader_shared.logging import configure_logging, correlation_id_var

SERVICE_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = Path(__file__).resolve().parent / "static"
TITLE = "sikader console"
DESCRIPTION = (
    "The city's web pages (Peta, Verifikasi, Kader, Sertifikasi, Insentif, Siaran) over the four "
    "services' APIs, as the signed-in person: it owns no business data and reads no other "
    "service's database. Sign in at /masuk with an API key issued to you."
)
log = logging.getLogger("console")


def create_app(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level, settings.log_json)
    logging.getLogger("httpx").setLevel("WARNING")  # its lines carry the services' query strings
    config = ConsoleConfig.from_settings(settings)
    engine = make_engine(settings.effective_database_url())

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("console started", extra={"port": settings.http_port})
        try:
            yield
        finally:
            await app.state.client.close()
            await engine.dispose()
            log.info("console stopped")

    app = FastAPI(title=TITLE, description=DESCRIPTION, version="0.1.0", docs_url=None, redoc_url=None,
                  lifespan=lifespan)  # fmt: skip
    app.state.config = config
    app.state.settings = settings
    app.state.service_dir = SERVICE_DIR
    app.state.store = session_factory(engine)
    app.state.client = ServiceClient(config.service_urls, settings.service_timeout_s)
    app.state.metrics = ConsoleMetrics()
    app.state.ready = False
    _install_headers(app, config)
    install_error_pages(app)
    import swagger_ui_bundle

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app


def _install_headers(app: FastAPI, config: ConsoleConfig) -> None:
    policy = config.content_security_policy()
    docs_policy = docs_csp(policy)
    secure = config.settings.secure_cookies

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        token = correlation_id_var.set(correlation)
        started = time.perf_counter()
        try:
            response = await call_next(request)
        finally:
            correlation_id_var.reset(token)
        path = request.url.path
        response.headers["Content-Security-Policy"] = docs_policy if path in ("/docs", "/asyncapi") else policy
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Correlation-ID"] = correlation
        if secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        if not path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - started
        app.state.metrics.observe(request.method, route, response.status_code, elapsed)
        if not route.startswith(("/health", "/static")) and route != "/metrics":
            # the route's template, never its query string or form
            extra = {"method": request.method, "route": route, "status": response.status_code}
            log.info("http", extra=extra | {"ms": round(elapsed * 1000, 1)})
        return response
