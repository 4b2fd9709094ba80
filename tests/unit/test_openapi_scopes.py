"""Issue 14, item 8: each service's OpenAPI names the scope every operation needs
(`x-required-scopes` and a line in the description); public routes name none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from certification.app import definition as certification
from certification.settings import CertificationSettings
from incentives.app import definition as incentives
from incentives.settings import IncentivesSettings
from notifications.app import definition as notifications
from notifications.settings import NotificationsSettings
from registry.app import definition as registry
from registry.settings import RegistrySettings
from sikader_shared.service import create_service_app

SERVICES: dict[str, tuple[Any, Any]] = {
    "registry": (registry, RegistrySettings),
    "certification": (certification, CertificationSettings),
    "incentives": (incentives, IncentivesSettings),
    "notifications": (notifications, NotificationsSettings),
}
EXPECTED = {
    ("registry", "post", "/posyandu/{posyandu_id}/verification"): ["posyandu:verify"],
    ("registry", "post", "/cadres"): ["registry:write"],
    ("incentives", "get", "/eligibility/{cadre_id}"): ["incentives:read"],
    ("registry", "get", "/auth/whoami"): [],
}


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_that_needs_a_key_names_its_scope(service: str, tmp_path: Path) -> None:
    make, settings = SERVICES[service]
    app = create_service_app(make(settings(database_url=f"sqlite:///{tmp_path}/{service}.db")))
    spec = app.openapi()
    operations = [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
    assert operations
    for method, path, op in operations:
        keyed = any(r.get("401") for r in [op.get("responses", {})]) or bool(op.get("security"))
        if keyed:
            assert "x-required-scopes" in op, f"{service}: {method.upper()} {path} does not name its scope"
            assert "**Scope:**" in op["description"], (method, path)
        for (svc, m, p), scopes in EXPECTED.items():
            if (svc, m, p) == (service, method, path):
                assert op["x-required-scopes"] == scopes, (method, path, op["x-required-scopes"])
    public = [p for m, p, op in operations if "x-required-scopes" not in op]
    assert "/health/ready" in public
