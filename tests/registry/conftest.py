"""Fixtures for the registry's integration tests: the service on a real broker and
database, with keys for each kind of caller."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest_asyncio
from sqlalchemy import func, select

from registry.app import definition
from registry.settings import RegistrySettings
from sikader_shared.auth import issue_key
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing.services import InProcessService
from sikader_shared.uow import Actor
from tests.conftest import settings_for

ADMIN = Actor(client_id="ops", scopes=frozenset({"admin"}))


def make_nik(birth: date, sex: str, region: str = "647101", serial: int = 1) -> str:
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


@dataclass
class Registry:
    service: InProcessService
    keys: dict[str, str]

    @property
    def runtime(self) -> ServiceRuntime:
        return self.service.runtime

    def client(self, who: str) -> Any:
        return self.service.client(self.keys[who])

    async def count(self, table: Any, *where: Any) -> int:
        async with self.runtime.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(table).where(*where)) or 0)


SCOPES = {
    "admin": ["admin"],
    "writer": ["registry:read", "registry:write"],
    "reader": ["registry:read"],
    "pii": ["registry:read", "registry:pii"],
    "verifier": ["registry:read", "posyandu:verify"],
}


@pytest_asyncio.fixture
async def registry(broker: Any, databases: Callable[[str], str], run_service: Any) -> Registry:
    svc = await run_service(definition(settings_for(RegistrySettings, broker, databases("registry"))))
    keys = {}
    async with svc.runtime.uow(actor=ADMIN) as uow:
        for who, scopes in SCOPES.items():
            client = {"writer": "dinsos", "reader": "dp3akb", "pii": "dinsos-pii", "verifier": "dinkes"}.get(who, "ops")
            keys[who] = (await issue_key(uow, client, scopes))[1]
        await uow.commit()
    return Registry(svc, keys)


def body(record: Any) -> dict[str, Any]:
    return dict(json.loads(record.value))
