"""Property-based fuzzing of each service's live OpenAPI with schemathesis: valid and
invalid (negative) requests, authenticated with an admin key, against the service running
on the real broker and PostgreSQL. Every answer must be a non-5xx, with a status code the
operation documents and a body that matches the documented schema; bad input gets a 4xx.

SIKADER_FUZZ_EXAMPLES sets the examples per operation (default keeps `make test` short);
SIKADER_FUZZ_SEED another seed (default fixed, so CI runs are reproducible)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import FailedHealthCheck, Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from incentives.app import definition as incentives_definition
from incentives.settings import IncentivesSettings
from notifications.app import definition as notifications_definition
from notifications.settings import NotificationsSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared.testing.broker import TestBroker
from tests.conftest import settings_for
from tests.robustness.conftest import CASES, ThreadedService

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    # schemathesis' generators use `random` inside strategies (its business, not ours)
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = int(os.environ.get("SIKADER_FUZZ_EXAMPLES", "12"))
SEED = int(os.environ.get("SIKADER_FUZZ_SEED", "20260901"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.generate],
)


class Api:
    def __init__(self, name: str, svc: ThreadedService) -> None:
        self.name = name
        self.svc = svc
        self.headers = {"Authorization": f"Bearer {svc.issue('ops', ['admin'])}"}
        self.session = requests.Session()

    def check(self, case: Any) -> None:
        CASES[f"fuzz {self.name}"] = CASES.get(f"fuzz {self.name}", 0) + 1
        case.call_and_validate(
            base_url=self.svc.url, session=self.session, headers=self.headers, checks=CHECKS, timeout=30
        )


# Slow polling: these tests need no event latency, and four idle consumers polling every
# 10 ms would take CPU from the generation of cases.
QUIET = {"fetch_max_wait_ms": 500}
SERVICES: dict[str, Callable[[TestBroker, str], Any]] = {
    "registry": lambda b, db: registry_definition(settings_for(RegistrySettings, b, db, **QUIET)),
    "certification": lambda b, db: certification_definition(settings_for(CertificationSettings, b, db, **QUIET)),
    "incentives": lambda b, db: incentives_definition(settings_for(IncentivesSettings, b, db, **QUIET)),
    # No delivery worker: fuzzed subscriptions must not send mail or call out.
    "notifications": lambda b, db: notifications_definition(
        settings_for(NotificationsSettings, b, db, worker_enabled=False, **QUIET)
    ),
}


@pytest.fixture(scope="module")
def apis(module_broker: TestBroker, module_databases: Callable[[str], str]) -> Iterator[dict[str, Api]]:
    """The four services, started side by side (most of a start is waiting)."""
    urls = {name: module_databases(name) for name in SERVICES}
    with ThreadPoolExecutor(len(SERVICES)) as pool:
        futures = {
            name: pool.submit(ThreadedService, functools.partial(make, module_broker, urls[name]))
            for name, make in SERVICES.items()
        }
        started = {name: future.result() for name, future in futures.items()}
    try:
        yield {name: Api(name, svc) for name, svc in started.items()}
    finally:
        for svc in started.values():
            svc.close()


@pytest.mark.parametrize("name", list(SERVICES))
def test_api_fuzz(name: str, apis: dict[str, Api]) -> None:
    api = apis[name]
    schema = schemathesis.openapi.from_url(f"{api.svc.url}/openapi.json", timeout=30)
    # The key is ours (Api.headers), and unknown query parameters are ignored, as HTTP APIs do.
    schema.config.generation.update(with_security_parameters=False, allow_extra_parameters=False)
    failures: dict[tuple[str, str], str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        _fuzz_operation(api, operation, GenerationMode.POSITIVE, failures)
        if _negatable(operation.definition.raw):
            _fuzz_operation(api, operation, GenerationMode.NEGATIVE, failures)
    print(f"fuzz {name}: {operations} operations, {CASES.get(f'fuzz {name}', 0)} cases")
    assert not failures, f"{len(failures)} failing operation/check pairs:\n" + "\n\n".join(
        f"{label} [{kind}]\n{detail}" for (label, kind), detail in failures.items()
    )


_UNCONSTRAINED = {"type", "title", "description", "examples", "default"}


def _negatable(operation: dict[str, Any]) -> bool:
    """Whether any input can be invalid: a body, or a parameter with a type other than
    string or a constraint. (Negating nothing only burns time until Hypothesis gives up.)"""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        for variant in schema.get("anyOf", [schema]):
            if variant.get("type") not in ("string", "null") or set(variant) - _UNCONSTRAINED:
                return True
    return False


def _fuzz_operation(api: Api, operation: Any, mode: GenerationMode, failures: dict[tuple[str, str], str]) -> None:
    """EXAMPLES cases of one operation in one mode; failures are collected (first one per
    operation and kind of failure), not raised, so one run reports every operation."""

    @hypothesis_seed(SEED)
    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        try:
            api.check(case)
        except (Exception, BaseExceptionGroup) as exc:  # failed checks, or the request itself failed
            found = exc.exceptions if isinstance(exc, BaseExceptionGroup) else (exc,)
            curl = case.as_curl_command(headers=api.headers, base_url=api.svc.url)
            for failure in found:
                title = getattr(failure, "title", type(failure).__name__)
                message = getattr(failure, "message", str(failure))
                failures.setdefault((operation.label, title), f"{mode.value}: {message[:1500]}\n{curl}")

    try:
        run()
    except (Unsatisfiable, FailedHealthCheck):
        pass  # nothing to negate in this operation (no parameters, no body)
