"""Issue 9, item 3: every HTTP route of the four services against every scope of the contract,
the admin key, no key, a malformed key, a valid key sent without `Bearer`, and a key revoked
through the CLI. Only what the route's scope allows passes the gate (2xx, or a domain answer
such as 404/409); everything else is refused: 401 without a valid key, 403 without the scope.
Public: health, metrics, docs, certificate verification (and the signed unsubscribe link)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlmodel import col

from sikader_shared.auth import SCOPES
from sikader_shared.db import AuditRecord
from tests.security.conftest import Platform, audit_rows, scope_client
from tests.security.routes import ANY_KEY, PUBLIC, ROUTES, Route, code_access

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="package")]

# Callers without a valid key, each with the header it sends.
INVALID: dict[str, Callable[[Platform], dict[str, str]]] = {
    "no key": lambda p: {},
    "malformed key": lambda p: {"Authorization": "Bearer sk_000000000000_not-a-real-key"},
    "admin key without Bearer": lambda p: {"Authorization": f"Basic {p.scope_key('admin')}"},
    "revoked admin key": lambda p: {"Authorization": f"Bearer {p.keys['victim']}"},
}
SCOPE_PRINCIPALS = [f"scope:{s}" for s in sorted(SCOPES)]  # "admin" sorts first
PRINCIPALS = [*INVALID, *SCOPE_PRINCIPALS]


def allowed(route: Route, principal: str) -> bool:
    if route.access == PUBLIC:
        return True
    if principal in INVALID:
        return False
    return route.access == ANY_KEY or principal in ("scope:admin", f"scope:{route.access}")


def headers_of(p: Platform, principal: str) -> dict[str, str]:
    if principal in INVALID:
        return INVALID[principal](p)
    return {"Authorization": f"Bearer {p.keys[principal]}"}


def lacks_scope(r: httpx.Response) -> bool:
    """The gate's 403 (a handler's 403, e.g. segregation of duties, says something else)."""
    return r.status_code == 403 and "lacks the scope" in str(r.json().get("detail", ""))


async def test_every_route_is_classified(platform: Platform) -> None:
    """The table names every route of every app, no more, with the access the code gives it."""
    total = 0
    for name, svc in platform.services.items():
        in_code = {(m, path): access for m, path, access in code_access(svc.app)}
        in_table = {(r.method, r.path): r.access for r in ROUTES[name]}
        assert len(in_table) == len(ROUTES[name]), f"{name}: a route is listed twice"
        unclassified = sorted(set(in_code) - set(in_table))
        assert not unclassified, f"{name}: routes missing from tests/security/routes.py: {unclassified}"
        stale = sorted(set(in_table) - set(in_code))
        assert not stale, f"{name}: routes in the table that the app no longer has: {stale}"
        differs = {k: (in_table[k], in_code[k]) for k in in_table if in_table[k] != in_code[k]}
        assert not differs, f"{name}: table vs code access differ (table, code): {differs}"
        total += len(in_table)
    assert total >= 110  # all four services, platform routes included


async def _run_service(
    p: Platform, service: str, seen: list[tuple[Route, str, httpx.Response]], gate: asyncio.Semaphore
) -> None:
    """One service's routes in table order (later routes act on what earlier ones made).
    GETs and every call the gate refuses go out together (the GET unsubscribe link is a
    write that must bear concurrent clicks: that is how its duplicate-key 500 showed up);
    allowed writes go one at a time in principal order (admin first)."""

    async def call(client: httpx.AsyncClient, route: Route, principal: str) -> None:
        req = route.request(p.res)
        async with gate:
            r = await client.request(
                route.method,
                req.path,
                params=req.params,
                json=req.json,
                content=req.content,
                headers={**req.headers, **headers_of(p, principal)},
            )
        seen.append((route, principal, r))
        if route.capture is not None and allowed(route, principal) and r.is_success:
            route.capture(p.res, r)

    # No keep-alive: a pooled connection idle past uvicorn's keep-alive timeout can be closed
    # by the server just as it is reused ("Server disconnected without sending a response").
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=p.services[service].url, timeout=60, limits=limits) as client:
        for route in ROUTES[service]:
            read = route.method == "GET"
            together = [x for x in PRINCIPALS if read or not allowed(route, x)]
            await asyncio.gather(*(call(client, route, x) for x in together))
            for x in PRINCIPALS:
                if x not in together:
                    await call(client, route, x)


@pytest.mark.parametrize("service", list(ROUTES))
async def test_access_matrix(platform: Platform, service: str) -> None:
    """One service's routes x every principal (a test per service keeps each well inside the
    per-test timeout on a loaded machine)."""
    p = platform
    seen: list[tuple[Route, str, httpx.Response]] = []
    started = time.monotonic()
    gate = asyncio.Semaphore(8)  # the PostgreSQL server is shared: few connections at a time
    await _run_service(p, service, seen, gate)
    elapsed = time.monotonic() - started

    failures: list[str] = []
    succeeded: set[tuple[str, str]] = set()
    for route, principal, r in seen:
        where = f"{route.method} {route.path} as {principal}: {r.status_code} {r.text[:200]}"
        if allowed(route, principal):
            if r.status_code not in route.ok or lacks_scope(r):
                failures.append(f"allowed, but {where}")
            if r.is_success:
                succeeded.add((route.method, route.path))
        elif principal in INVALID:
            if r.status_code != 401 or r.headers.get("www-authenticate") != "Bearer":
                failures.append(f"expected 401, got {where}")
        elif not lacks_scope(r):
            failures.append(f"expected 403 (scope), got {where}")
    assert not failures, f"{service}: {len(failures)} of {len(seen)} calls wrong:\n" + "\n".join(failures)

    # Every route was called by every principal, and every route succeeded for someone: the
    # matrix ran on real resources, not on 404s.
    routes = ROUTES[service]
    assert len(seen) == len(routes) * len(PRINCIPALS)
    never = [f"{r.method} {r.path}" for r in routes if (r.method, r.path) not in succeeded]
    assert not never, f"{service}: routes no allowed caller got a 2xx from: {never}"
    await _check_writes_audited(p, service, seen)
    _check_personal_data_stays_in(p, service, seen)
    print(f"\n{service}: {len(routes)} routes x {len(PRINCIPALS)} principals = {len(seen)} calls in {elapsed:.1f}s")


def _caller(p: Platform, route: Route, principal: str) -> tuple[str, str | None]:
    """(client, key id) the audit trail should name for a call by `principal`."""
    if route.access == PUBLIC:
        return "public", None  # a public route acts for nobody, whatever key comes along
    scope = principal.removeprefix("scope:")
    return scope_client(scope), p.key_ids[principal]


async def _check_writes_audited(p: Platform, service: str, seen: list[tuple[Route, str, httpx.Response]]) -> None:
    """Item 5, every write recorded: the first successful call of every write route left an
    audit row in the service's trail, found by the request's correlation id and naming the
    caller's OPD client and key; no audit row names anyone else for that request; no refused
    call left an audit row."""
    ids = [r.headers["x-correlation-id"] for _, _, r in seen]
    by_request: dict[str, list[dict[str, Any]]] = {}
    for row in await audit_rows(p.services[service], col(AuditRecord.correlation_id).in_(ids)):
        by_request.setdefault(row["correlation_id"], []).append(row)
    failures: list[str] = []
    first_success: set[tuple[str, str]] = set()
    for route, principal, r in seen:
        rows = by_request.get(r.headers["x-correlation-id"], [])
        where = f"{route.method} {route.path} as {principal} ({r.status_code})"
        if not r.is_success:
            if rows:
                failures.append(f"audit rows for a refused or failed call: {where}: {rows}")
            continue
        if route.write and (route.method, route.path) not in first_success:
            first_success.add((route.method, route.path))
            if not rows:
                failures.append(f"no audit row for {where}")
        client, key_id = _caller(p, route, principal)
        names = {(x["actor_client"], x["actor_key"]) for x in rows}
        if names - {(client, key_id)}:
            failures.append(f"audit names {names}, not ({client}, {key_id}): {where}")
    assert not failures, f"{service}:\n" + "\n".join(failures)
    assert len(first_success) == sum(1 for x in ROUTES[service] if x.write)


def may_see_personal_data(route: Route, principal: str) -> bool:
    """Who may get the setup cadres' personal data in an answer: a key with registry:read
    and registry:pii on the registry's cadre routes (of the single-scope keys, only admin
    has both), and the payers on the bank file (account numbers)."""
    if route.service == "registry" and route.path.startswith("/cadres"):
        return principal == "scope:admin"
    if route.service == "incentives" and route.path.endswith("/file"):
        return principal in ("scope:admin", "scope:incentives:pay")
    return False


def _check_personal_data_stays_in(p: Platform, service: str, seen: list[tuple[Route, str, httpx.Response]]) -> None:
    """No answer of any route, to any caller, carries a setup cadre's NIK, phone, email,
    address or account number, except where `may_see_personal_data` says so (item 3: masked
    without registry:pii)."""
    body = p.res["cadre_body"]
    secrets = [
        body["nik"],
        p.res["revoke_nik"],
        "+6281277889900",
        "7788-9900",
        body["email"],
        body["address"],
        "Jl. Jend. Sudirman No. 9, RT 007",  # the address as the matrix changed it
        "0098765432",
    ]
    leaks = [
        f"{route.method} {route.path} as {principal}: {[x for x in secrets if x in r.text]}"
        for route, principal, r in seen
        if not may_see_personal_data(route, principal) and any(x in r.text for x in secrets)
    ]
    assert not leaks, f"{service}: personal data in answers:\n" + "\n".join(leaks)
    if service == "registry":  # and the allowed caller does see it: the check has teeth
        assert any(
            body["nik"] in r.text for route, who, r in seen if who == "scope:admin" and route.path.startswith("/cadres")
        )
