"""Fixtures for the console's route tests: the real services in-process on a real broker,
keys issued to named people, and the console app in front of them (ASGI, no port)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio

from console.app import SERVICE_DIR, create_app
from console.settings import ConsoleSettings
from sikader_shared.auth import issue_key
from sikader_shared.crypto import new_key
from sikader_shared.migrations import upgrade_head
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor

ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))
PEOPLE: dict[str, tuple[str, str, list[str]]] = {
    "officer": (
        "dinkes",
        "Siti Rahmawati (Dinkes)",
        [
            "registry:read",
            "registry:write",
            "posyandu:verify",
            "certification:train",
            "certification:assess",
            "certification:revoke",
            "incentives:read",
            "notifications:broadcast",
        ],
    ),
    "pii_officer": ("dinkes", "Dewi Lestari (Dinkes)", ["registry:read", "registry:write", "registry:pii"]),
    "reader": ("dp3akb", "Budi Santoso (DP3AKB)", ["registry:read"]),
    "calculator": ("dinkes", "Rina Wulandari (Dinkes)", ["incentives:read", "incentives:calculate"]),
    "approver_same": ("dinkes", "Agus Salim (Dinkes)", ["incentives:read", "incentives:approve"]),
    "approver_other": (
        "dinsos",
        "Yohana Pasaribu (Dinsos)",
        ["incentives:read", "incentives:approve", "incentives:pay"],
    ),
}


@dataclass
class Console:
    app: Any
    keys: dict[str, str]
    services: dict[str, InProcessService] = field(default_factory=dict)

    def browser(self) -> httpx.AsyncClient:
        """A cookie-keeping client, like a browser on plain http."""
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://console.test")

    @contextlib.asynccontextmanager
    async def signed_in(self, who: str) -> AsyncIterator[httpx.AsyncClient]:
        async with self.browser() as b:
            r = await sign_in(b, self.keys[who])
            assert r.status_code == 303, r.text
            yield b


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(b: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await b.get("/masuk")
    return await b.post("/masuk", data={"api_key": key, "csrf_token": csrf_of(page.text), "next": "/peta"})


async def post_form(
    b: httpx.AsyncClient, page_path: str, action: str, data: dict[str, Any], **kw: Any
) -> httpx.Response:
    """Opens the page (for its CSRF token) and posts the form to `action`."""
    page = await b.get(page_path)
    assert page.status_code == 200, page.text[:500]
    return await b.post(action, data={"csrf_token": csrf_of(page.text), **data}, **kw)


def console_settings(url: str, urls: dict[str, str], **overrides: Any) -> ConsoleSettings:
    """The console's settings on database `url` (PostgreSQL under TEST_DATABASE_URL, as in CI),
    migrated first."""
    with ThreadPoolExecutor(1) as pool:  # alembic runs its own event loop: not inside the test's
        pool.submit(upgrade_head, SERVICE_DIR, url).result()
    values: dict[str, Any] = {
        "database_url": url,
        "session_key": new_key(),
        "secure_cookies": False,
        "log_json": False,
        **{f"{name}_url": u for name, u in urls.items()},
        **overrides,
    }
    return ConsoleSettings(**values)


async def issue_people(svc: InProcessService, people: dict[str, tuple[str, str, list[str]]] = PEOPLE) -> dict[str, str]:
    keys = {}
    async with svc.runtime.uow(actor=ADMIN) as uow:
        for who, (client, label, scopes) in people.items():
            keys[who] = (await issue_key(uow, client, scopes, label))[1]
        await uow.commit()
    return keys


@pytest.fixture
def make_console(databases: Callable[[str], str]) -> Callable[..., Any]:
    def make(urls: dict[str, str], **overrides: Any) -> Any:
        return create_app(console_settings(databases("console"), urls, **overrides))

    return make


@pytest_asyncio.fixture
async def registry_console(
    broker: Any, databases: Callable[[str], str], run_service: Any, make_console: Any
) -> AsyncIterator[Console]:
    """The registry (keys for named people) and the console in front of it."""
    from registry.app import definition
    from registry.settings import RegistrySettings
    from tests.conftest import settings_for

    svc = await run_service(definition(settings_for(RegistrySettings, broker, databases("registry"))))
    keys = await issue_people(svc)
    yield Console(make_console({"registry": svc.url}), keys, {"registry": svc})


async def known_everywhere(services: dict[str, InProcessService], key: str) -> None:
    """Keys are issued at the registry and reach the other services over the auth topic."""
    from sikader_shared.testing.checks import eventually

    for svc in services.values():

        async def known(svc: InProcessService = svc) -> bool:
            async with svc.client(key) as c:
                return (await c.get("/auth/whoami")).status_code == 200

        await eventually(known, f"key known to {svc.definition.name}", timeout=30)


@pytest_asyncio.fixture
async def stack_console(
    broker: Any, databases: Callable[[str], str], run_service: Any, make_console: Any
) -> AsyncIterator[Console]:
    """The four services (in-process, each on its own database, one broker), keys for named
    people known to all of them, and the console in front."""
    from certification.app import definition as certification
    from certification.settings import CertificationSettings
    from incentives.app import definition as incentives
    from incentives.settings import IncentivesSettings
    from notifications.app import definition as notifications
    from notifications.settings import NotificationsSettings
    from registry.app import definition as registry
    from registry.settings import RegistrySettings
    from tests.conftest import settings_for

    services: dict[str, InProcessService] = {}
    for name, make, cls in (
        ("registry", registry, RegistrySettings),
        ("certification", certification, CertificationSettings),
        ("incentives", incentives, IncentivesSettings),
        ("notifications", notifications, NotificationsSettings),
    ):
        # no quiet hours: a test at 21:00-07:00 WITA would hold every SMS and WhatsApp message
        extra = {"quiet_hours_start": "00:00", "quiet_hours_end": "00:00"} if name == "notifications" else {}
        services[name] = await run_service(make(settings_for(cls, broker, databases(name), **extra)))
    keys = await issue_people(services["registry"])
    for key in keys.values():
        await known_everywhere(services, key)
    yield Console(make_console({n: s.url for n, s in services.items()}), keys, services)
