"""What every sikader process serves: health, metrics, the OpenAPI page (offline) and an
AsyncAPI document, which for the console has no channels (it publishes and consumes
nothing)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from sikader_shared.asyncapi import build
from sikader_shared.docs import asyncapi_html, swagger_html
from sikader_shared.migrations import current_is_head

router = APIRouter(tags=["platform"])


class ConsoleMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "sikader_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.request_seconds = Histogram(
            "sikader_http_request_seconds", "HTTP request duration", ["method", "route"], registry=self.registry
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)


def docs_csp(policy: str) -> str:
    """The Swagger page's one inline script, allowed by its hash (no 'unsafe-inline')."""
    scripts = re.findall(r"<script>(.*?)</script>", swagger_html("x"), re.DOTALL)
    hashes = " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in scripts)
    return policy.replace("script-src 'self'", f"script-src 'self' {hashes}").replace(
        "style-src 'self'", "style-src 'self' 'unsafe-inline'"
    )


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "live", "service": "console"}


@router.get("/health/ready")
async def ready(request: Request) -> JSONResponse:
    """200 once the console's database is migrated (its sessions table at head)."""
    state = request.app.state
    if not state.ready:
        url = state.settings.effective_database_url()
        try:
            state.ready = await asyncio.to_thread(current_is_head, state.service_dir, url)
        except Exception:
            state.ready = False
    body = {"status": "ready" if state.ready else "not ready", "service": "console", "database": state.ready}
    return JSONResponse(body, status_code=200 if state.ready else 503)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/docs", include_in_schema=False)
async def docs(request: Request) -> HTMLResponse:
    return HTMLResponse(swagger_html(request.app.title))


def asyncapi_document(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    return build(
        "sikader console",
        request.app.version,
        "The console publishes and consumes no events: it works only through the services' HTTP APIs.",
        [],
        server=settings.asyncapi_kafka_server,
        partitions=settings.topic_partitions,
    )


@router.get("/asyncapi.json")
async def asyncapi_json(request: Request) -> dict[str, Any]:
    return asyncapi_document(request)


@router.get("/asyncapi", include_in_schema=False)
async def asyncapi_page(request: Request) -> HTMLResponse:
    return HTMLResponse(asyncapi_html(asyncapi_document(request)))
