"""Issue 14, item 7: per-client-address limits on the routes anyone may call and on failed
authentication, with 429 and Retry-After; X-Forwarded-For believed only from a trusted proxy;
and the certificate check code (tests/certification/test_flows.py checks the holder)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from notifications.app import definition as notifications_definition
from notifications.settings import NotificationsSettings
from sikader_shared.testing.services import InProcessService
from tests.conftest import settings_for

pytestmark = pytest.mark.integration


async def start(broker: Any, databases: Any, run_service: Any, **limits: Any) -> InProcessService:
    settings = settings_for(NotificationsSettings, broker, databases("notifications"), **limits)
    return await run_service(notifications_definition(settings))  # type: ignore[no-any-return]


async def test_public_routes_and_failed_keys_are_limited_per_address(broker, databases, run_service) -> None:
    svc = await start(
        broker, databases, run_service, rate_limit_public_per_minute=5, rate_limit_auth_failures_per_minute=3
    )
    async with httpx.AsyncClient(base_url=svc.url, timeout=10) as client:
        # Public: five answers (404: no such token), then 429 with Retry-After.
        codes = [(await client.get("/unsubscribe/not-a-token")).status_code for _ in range(6)]
        assert codes == [404] * 5 + [429], codes
        limited = await client.get("/unsubscribe/not-a-token")
        assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
        assert "too many requests" in limited.json()["detail"]
        # Failed authentication: three 401s, then 429, even for a route with a scope.
        bad = {"Authorization": "Bearer sk_nope_nope"}
        codes = [(await client.get("/subscriptions", headers=bad)).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429], codes
        # Health and metrics are not limited.
        assert (await client.get("/health/live")).status_code == 200


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(broker, databases, run_service) -> None:
    untrusted = await start(broker, databases, run_service, rate_limit_public_per_minute=2)
    async with httpx.AsyncClient(base_url=untrusted.url, timeout=10) as client:
        # A client naming other addresses does not escape the limit.
        codes = [
            (await client.get("/unsubscribe/x", headers={"X-Forwarded-For": f"203.0.113.{i}"})).status_code
            for i in range(3)
        ]
        assert codes == [404, 404, 429], codes


async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(broker, databases, run_service) -> None:
    proxied = await start(
        broker, databases, run_service, rate_limit_public_per_minute=2, trusted_proxies="127.0.0.1/32"
    )
    async with httpx.AsyncClient(base_url=proxied.url, timeout=10) as client:
        one = {"X-Forwarded-For": "203.0.113.7"}
        two = {"X-Forwarded-For": "198.51.100.9, 203.0.113.8"}  # the right-most untrusted address counts
        assert [(await client.get("/unsubscribe/x", headers=one)).status_code for _ in range(3)] == [404, 404, 429]
        assert [(await client.get("/unsubscribe/x", headers=two)).status_code for _ in range(2)] == [404, 404]


async def test_a_trusted_proxy_may_be_named_by_host_name(broker, databases, run_service) -> None:
    """As in docker-compose (SIKADER_TRUSTED_PROXIES=console): the name is resolved, here
    `localhost` to the test client's 127.0.0.1; a name that does not resolve trusts nobody."""
    named = await start(
        broker,
        databases,
        run_service,
        rate_limit_public_per_minute=2,
        trusted_proxies="no-such-proxy.invalid,localhost",
    )
    async with httpx.AsyncClient(base_url=named.url, timeout=10) as client:
        one = {"X-Forwarded-For": "203.0.113.7"}
        two = {"X-Forwarded-For": "203.0.113.8"}
        assert [(await client.get("/unsubscribe/x", headers=one)).status_code for _ in range(3)] == [404, 404, 429]
        assert [(await client.get("/unsubscribe/x", headers=two)).status_code for _ in range(2)] == [404, 404]
