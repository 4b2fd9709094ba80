"""What every sikader process serves, on the console: health (ready once its database is at
head), metrics, the offline API page, OpenAPI, and an AsyncAPI 3.0 document with no channels
(it publishes and consumes nothing), valid against the official JSON Schema; and the headers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from console.app import create_app
from console.settings import ConsoleSettings
from sikader_shared.crypto import new_key
from tests.contracts.asyncapi_support import spec_errors


def _client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console.test")


async def test_platform_routes(make_console: Any) -> None:
    async with _client(make_console({})) as c:
        assert (await c.get("/health/live")).json() == {"status": "live", "service": "console"}
        assert (await c.get("/health/ready")).status_code == 200
        doc = (await c.get("/asyncapi.json")).json()
        assert doc["asyncapi"].startswith("3.") and doc["channels"] == {} and doc["operations"] == {}
        assert spec_errors(doc) == []
        assert (await c.get("/asyncapi")).status_code == 200
        openapi = (await c.get("/openapi.json")).json()
        assert "/health/ready" in openapi["paths"] and "/masuk" not in openapi["paths"]
        docs = await c.get("/docs")
        script_src = docs.headers["content-security-policy"].split("script-src")[1].split(";")[0]
        assert docs.status_code == 200 and "'sha256-" in script_src and "unsafe-inline" not in script_src
        await c.get("/masuk")
        metrics = (await c.get("/metrics")).text
        assert 'sikader_http_requests_total{method="GET",route="/masuk",status="200"}' in metrics
        page = await c.get("/masuk")
        assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
        assert "img-src 'self' data: https://tile.openstreetmap.org" in page.headers["content-security-policy"]


async def test_not_ready_before_migration_and_no_tiles_without_a_tile_url(tmp_path: Path) -> None:
    settings = ConsoleSettings(
        database_url=f"sqlite:///{tmp_path}/empty.db", session_key=new_key(), tile_url="", log_json=False
    )
    async with _client(create_app(settings)) as c:
        assert (await c.get("/health/ready")).status_code == 503
        csp = (await c.get("/masuk")).headers["content-security-policy"]
        assert "img-src 'self' data:;" in csp


async def test_without_a_session_key_sign_in_says_which_setting(tmp_path: Path, make_console: Any) -> None:
    app = make_console({}, session_key="")
    async with _client(app) as c:
        page = await c.get("/masuk")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token
        r = await c.post("/masuk", data={"api_key": "sk_x_y", "csrf_token": token.group(1)})
        assert r.status_code == 503 and "SIKADER_CONSOLE_SESSION_KEY" in r.text
