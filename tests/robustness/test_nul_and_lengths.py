"""Issue 14, item 9: bad input gets the same answer on either database. PostgreSQL refuses a NUL
character in text and a value longer than its column; SQLite stored both. Now the event models
refuse them when an event is read (a schema dead letter), and every service refuses a request
carrying a NUL with 422 before any route sees it: on SQLite (the default of `make run` and of
`make test` without TEST_DATABASE_URL) exactly as on PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared.events import CadreRegistered
from tests.conftest import settings_for

NAME_MAX = 200


def registered(name: str) -> dict[str, Any]:
    return {
        "cadre_id": str(uuid.uuid4()),
        "kelurahan_code": "64.71.01.1001",
        "kecamatan_code": "64.71.01",
        "name": name,
        "status": "active",
        "registered_at": datetime.now(UTC).isoformat(),
    }


@pytest.mark.parametrize(
    ("name", "problem"),
    [("Kader\u0000", "NUL character"), ("K" * (NAME_MAX + 1), f"at most {NAME_MAX}")],
)
def test_event_models_refuse_what_a_database_could_not_store(name: str, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        CadreRegistered.model_validate(registered(name))
    assert problem in str(err.value)
    assert CadreRegistered.model_validate(registered("K" * NAME_MAX)).name == "K" * NAME_MAX


@pytest.mark.integration
async def test_a_request_with_a_nul_is_refused_on_either_database(
    broker: Any, databases: Any, run_service: Any
) -> None:
    svc = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    async with svc.client() as anonymous:
        body = b'{"name": "Posyandu Mel\\u0000ati", "kelurahan_code": "64.71.06.1002"}'
        r = await anonymous.post("/posyandu", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "NUL" in r.json()["detail"]
        r = await anonymous.get("/cadres", params={"name": "Siti\x00"})
        assert r.status_code == 422 and "NUL" in r.json()["detail"]
        assert (await anonymous.get("/health/ready")).status_code == 200
