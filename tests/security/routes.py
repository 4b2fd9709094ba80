"""Every HTTP route of the four services, classified: who may call it (public, any valid key,
or one scope; the admin key holds every scope) and a concrete request on real resources.

A route that appears in an app but not here fails test_every_route_is_classified, so a new
route cannot ship without a line here saying who may call it. The access column was read
from the code (`require(...)` in services/*/entrypoints/api.py and sikader_shared/service.py)
and is cross-checked against it by the same test; the matrix test then checks behaviour."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from tests.security.conftest import KECAMATAN, KELURAHAN, cadre_body, next_period, today_wita

PUBLIC = "public"
ANY_KEY = "any key"
R = dict[str, Any]  # the resources built by the `platform` fixture


@dataclass(frozen=True)
class Req:
    path: str
    params: dict[str, Any] | None = None
    json: Any = None
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    service: str
    method: str
    path: str  # the route template, as the app declares it
    access: str  # PUBLIC, ANY_KEY or the scope `require(...)` names
    request: Callable[[R], Req]
    ok: frozenset[int]  # what an allowed caller may get (the call passed the gate)
    # Runs after an allowed call answered 2xx: records ids the next routes act on.
    capture: Callable[[R, httpx.Response], None] | None = None
    write: bool = False  # changes state: its first success must leave an audit row


def route(
    service: str,
    method: str,
    path: str,
    access: str,
    request: Callable[[R], Req] | str | None = None,
    ok: tuple[int, ...] = (200,),
    capture: Callable[[R, httpx.Response], None] | None = None,
    write: bool | None = None,
) -> Route:
    build: Callable[[R], Req]
    if request is None:
        build = lambda _r: Req(path)  # noqa: E731
    elif isinstance(request, str):
        fixed = request
        build = lambda _r: Req(fixed)  # noqa: E731
    else:
        build = request
    is_write = method != "GET" if write is None else write
    return Route(service, method, path, access, build, frozenset(ok), capture, is_write)


CSV = {"content-type": "text/csv"}


def platform_routes(service: str) -> list[Route]:
    """What every service has (sikader_shared.service): health, metrics, docs, the audit
    trail and the PII read log (read-only) and whoami."""
    return [
        route(service, "GET", "/health/live", PUBLIC),
        route(service, "GET", "/health/ready", PUBLIC),
        route(service, "GET", "/metrics", PUBLIC),
        route(service, "GET", "/docs", PUBLIC),
        route(service, "GET", "/openapi.json", PUBLIC),
        route(service, "GET", "/asyncapi.json", PUBLIC),
        route(service, "GET", "/asyncapi", PUBLIC),
        route(service, "GET", "/", PUBLIC),
        route(service, "GET", "/static/swagger", PUBLIC, "/static/swagger/favicon-32x32.png"),
        route(
            service,
            "GET",
            "/audit",
            "audit:read",
            lambda r: Req("/audit", params={"entity_type": "cadre", "entity_id": r["cadre"]}),
        ),
        route(
            service,
            "GET",
            "/audit/pii-reads",
            "audit:read",
            lambda r: Req("/audit/pii-reads", params={"entity_type": "cadre", "entity_id": r["cadre"]}),
        ),
        route(service, "GET", "/auth/whoami", ANY_KEY),
    ]


def _record_batch(r: R, resp: httpx.Response) -> None:
    r["matrix_batch"] = resp.json()["batch_id"]


def _record_import_job(r: R, resp: httpx.Response) -> None:
    # The first caller's job (every allowed caller queues one): later callers may lack registry:read.
    r.setdefault("import_job", resp.json()["id"])


def _record_result_file(r: R, resp: httpx.Response) -> None:
    references = [line.split(",")[0] for line in resp.text.splitlines()[1:]]
    paid_on = today_wita().isoformat()
    r["matrix_result_file"] = "reference,result,failure_reason,paid_on\n" + "".join(
        f"{ref},paid,,{paid_on}\n" for ref in references
    )


REGISTRY = [
    *platform_routes("registry"),
    route("registry", "GET", "/wilayah/kecamatan", "registry:read"),
    route(
        "registry",
        "GET",
        "/wilayah/kelurahan",
        "registry:read",
        lambda r: Req("/wilayah/kelurahan", {"kecamatan": KECAMATAN}),
    ),
    route(
        "registry",
        "POST",
        "/posyandu",
        "registry:write",
        lambda r: Req(
            "/posyandu", json={"name": "Posyandu Matriks", "kelurahan_code": KELURAHAN, "posyandu_type": "balita"}
        ),
        ok=(201, 409),  # the second caller: the name is taken in the kelurahan
    ),
    route("registry", "GET", "/posyandu", "registry:read", lambda r: Req("/posyandu", {"kelurahan_code": KELURAHAN})),
    route("registry", "GET", "/posyandu/{posyandu_id}", "registry:read", lambda r: Req(f"/posyandu/{r['posyandu']}")),
    route(
        "registry",
        "PATCH",
        "/posyandu/{posyandu_id}",
        "registry:write",
        lambda r: Req(f"/posyandu/{r['posyandu']}", json={"rw": "003"}),
    ),
    route(
        "registry",
        "POST",
        "/posyandu/{posyandu_id}/assessments",
        "registry:write",
        lambda r: Req(
            f"/posyandu/{r['posyandu_assess']}/assessments",
            json={
                "facility_status": "own_building",
                "equipment": [{"item": "dacin", "available": True, "functional": True}],
                "assessed_by": "Puskesmas Klandasan Ilir",
                "assessed_on": today_wita().isoformat(),
            },
        ),
        ok=(201,),
    ),
    route(
        "registry",
        "GET",
        "/posyandu/{posyandu_id}/assessments",
        "registry:read",
        lambda r: Req(f"/posyandu/{r['posyandu']}/assessments"),
    ),
    route(
        "registry",
        "POST",
        "/posyandu/{posyandu_id}/verification",
        "posyandu:verify",
        lambda r: Req(f"/posyandu/{r['posyandu_assess']}/verification", json={"decision": "VERIFIED"}),
        ok=(201, 409),  # the second caller: already verified
    ),
    route(
        "registry",
        "GET",
        "/posyandu/{posyandu_id}/verifications",
        "registry:read",
        lambda r: Req(f"/posyandu/{r['posyandu']}/verifications"),
    ),
    route(
        "registry",
        "POST",
        "/posyandu/{posyandu_id}/closure",
        "registry:write",
        lambda r: Req(
            f"/posyandu/{r['posyandu_close']}/closure",
            json={"closure": "merged", "merged_into_posyandu_id": r["posyandu"], "reason": "digabung"},
        ),
        ok=(200, 409),  # the second caller: already merged
    ),
    route(
        "registry",
        "POST",
        "/posyandu/import",
        "registry:write",
        lambda r: Req(
            "/posyandu/import",
            content=f"name,kelurahan_code,posyandu_type\nPosyandu Impor Matriks,{KELURAHAN},lansia\n",
            headers=CSV,
        ),
    ),
    route(
        "registry",
        "POST",
        "/cadres",
        "registry:write",
        lambda r: Req("/cadres", json=cadre_body(20, "Kader Matriks", kelurahan_code=KELURAHAN)),
        ok=(201, 409),  # the second caller: the NIK is registered
    ),
    route("registry", "GET", "/cadres", "registry:read", lambda r: Req("/cadres", {"posyandu_id": r["posyandu"]})),
    route(
        "registry",
        "POST",
        "/cadres/search",
        "registry:read",
        lambda r: Req("/cadres/search", json={"name": r["cadre_body"]["name"]}),
        write=False,  # a search (by NIK only with registry:pii: tests/registry/test_cadres.py)
    ),
    route("registry", "GET", "/cadres/{cadre_id}", "registry:read", lambda r: Req(f"/cadres/{r['cadre']}")),
    route(
        "registry",
        "PATCH",
        "/cadres/{cadre_id}",
        "registry:write",
        lambda r: Req(f"/cadres/{r['cadre']}", json={"address": "Jl. Jend. Sudirman No. 9, RT 007"}),
    ),
    route(
        "registry",
        "POST",
        "/cadres/{cadre_id}/assignment",
        "registry:write",
        lambda r: Req(f"/cadres/{r['cadre_move']}/assignment", json={"posyandu_id": r["posyandu"]}),
        ok=(200, 409),  # the second caller: already assigned there
    ),
    route(
        "registry",
        "GET",
        "/cadres/{cadre_id}/assignments",
        "registry:read",
        lambda r: Req(f"/cadres/{r['cadre']}/assignments"),
    ),
    route(
        "registry",
        "POST",
        "/cadres/{cadre_id}/deactivation",
        "registry:write",
        lambda r: Req(f"/cadres/{r['cadre_status']}/deactivation", json={"reason": "pindah domisili"}),
        ok=(200, 409),  # the second caller: already inactive
    ),
    route(
        "registry",
        "POST",
        "/cadres/{cadre_id}/reactivation",
        "registry:write",
        lambda r: Req(f"/cadres/{r['cadre_status']}/reactivation", json={"reason": "kembali"}),
        ok=(200, 409),
    ),
    route(
        "registry",
        "POST",
        "/cadres/import",
        "registry:write",
        lambda r: Req(
            "/cadres/import",
            content="nik,name,sex,birth_date,kelurahan_code\n"
            + ",".join(cadre_body(21, "Kader Impor")[k] for k in ("nik", "name", "sex", "birth_date"))
            + f",{KELURAHAN}\n",
            headers=CSV,
        ),
    ),
    route("registry", "GET", "/statistics/mapping", "registry:read"),
    route(
        "registry",
        "GET",
        "/audit/posyandu/{posyandu_id}",
        "audit:read",
        lambda r: Req(f"/audit/posyandu/{r['posyandu']}"),
    ),
    route(
        "registry",
        "GET",
        "/posyandu.geojson",
        "registry:read",
        lambda r: Req("/posyandu.geojson", {"kecamatan": KECAMATAN}),
    ),
    route("registry", "GET", "/posyandu/verification-queue", "registry:read"),
    route(
        "registry",
        "POST",
        "/imports/posyandu",
        "registry:write",
        lambda r: Req(
            "/imports/posyandu",
            content=f"name,kelurahan_code,posyandu_type\nPosyandu Impor Antri Matriks,{KELURAHAN},lansia\n",
            headers=CSV,
        ),
        ok=(202,),
        capture=_record_import_job,
    ),
    route(
        "registry",
        "POST",
        "/imports/cadres",
        "registry:write",
        lambda r: Req(
            "/imports/cadres",
            content="nik,name,sex,birth_date,kelurahan_code\n"
            + ",".join(cadre_body(22, "Kader Impor Antri")[k] for k in ("nik", "name", "sex", "birth_date"))
            + f",{KELURAHAN}\n",
            headers=CSV,
        ),
        ok=(202,),
    ),
    route("registry", "GET", "/imports", "registry:read"),
    # A job is seen only by the OPD client that queued it: other clients get 404.
    route(
        "registry",
        "GET",
        "/imports/{job_id}",
        "registry:read",
        lambda r: Req(f"/imports/{r['import_job']}"),
        ok=(200, 404),
    ),
]

CERTIFICATION = [
    *platform_routes("certification"),
    route("certification", "GET", "/skills", PUBLIC),
    route("certification", "GET", "/levels", PUBLIC),
    route("certification", "GET", "/cadres/{cadre_id}", ANY_KEY, lambda r: Req(f"/cadres/{r['cadre']}")),
    route(
        "certification", "GET", "/cadres/{cadre_id}/history", ANY_KEY, lambda r: Req(f"/cadres/{r['cadre']}/history")
    ),
    route(
        "certification",
        "POST",
        "/trainings",
        "certification:train",
        lambda r: Req("/trainings", json=r["training_body"]),
        ok=(201,),
    ),
    route("certification", "GET", "/trainings/{training_id}", ANY_KEY, lambda r: Req(f"/trainings/{r['training']}")),
    route(
        "certification",
        "POST",
        "/trainings/{training_id}/completion",
        "certification:train",
        lambda r: Req(f"/trainings/{r['training']}/completion", json={"attended": [r["cadre"]]}),
        ok=(200, 409),  # the second caller: already completed
    ),
    route(
        "certification",
        "POST",
        "/assessments",
        "certification:assess",
        lambda r: Req(
            "/assessments",
            json={
                "cadre_id": r["cadre"],
                "assessor": "Puskesmas Klandasan Ilir",
                "assessed_on": today_wita().isoformat(),
                "results": [{"skill_code": "4.1", "passed": True}],
            },
        ),
        ok=(201,),
    ),
    route("certification", "GET", "/certificates", ANY_KEY, lambda r: Req("/certificates", {"cadre_id": r["cadre"]})),
    route(
        "certification",
        "POST",
        "/certificates/{certificate_id}/revoke",
        "certification:revoke",
        lambda r: Req(
            f"/certificates/{r['certificate_of_cadre_revoke']}/revoke", json={"reason": "penilaian tidak sah"}
        ),
        ok=(200, 409),  # the second caller: already revoked
    ),
    # Audited per certificate it expires: here nothing is due, so nothing to record.
    route("certification", "POST", "/expiry-sweep", "admin", write=False),
    route(
        "certification",
        "GET",
        "/certificates/{number:path}/verify",
        PUBLIC,
        lambda r: Req(f"/certificates/{r['number_of_cadre']}/verify"),
    ),
    route(
        "certification",
        "GET",
        "/certificates/{number:path}.html",
        ANY_KEY,
        lambda r: Req(f"/certificates/{r['number_of_cadre']}.html"),
    ),
    route(
        "certification",
        "GET",
        "/certificates/{number:path}.pdf",
        ANY_KEY,
        lambda r: Req(f"/certificates/{r['number_of_cadre']}.pdf"),
    ),
    route("certification", "GET", "/statistics/certified", ANY_KEY),
    route("certification", "GET", "/statistics/expiring", ANY_KEY),
    route(
        "certification",
        "GET",
        "/certificates/expiring",
        ANY_KEY,
        lambda r: Req("/certificates/expiring", {"within_days": 30}),
    ),
    route("certification", "GET", "/trainings", ANY_KEY),
]

INCENTIVES = [
    *platform_routes("incentives"),
    route("incentives", "GET", "/policies", "incentives:read"),
    route("incentives", "GET", "/policies/{version}", "incentives:read", "/policies/v1"),
    route(
        "incentives",
        "POST",
        "/policies",
        "incentives:policy",
        lambda r: Req("/policies", json={"effective_from": next_period(), "note": "matriks akses"}),
        ok=(201,),
    ),
    route(
        "incentives",
        "GET",
        "/eligibility/{cadre_id}",
        "incentives:read",
        lambda r: Req(f"/eligibility/{r['cadre']}", {"period": r["period"]}),
    ),
    route("incentives", "GET", "/periods", "incentives:read"),
    route("incentives", "GET", "/periods/{period}", "incentives:read", lambda r: Req(f"/periods/{r['period']}")),
    # The previous month is open: both allowed callers calculate it (admin first, then the
    # incentives:calculate key of its own OPD client); admin then approves it (another client
    # and key than the last calculation) and the approve key finds it approved (409).
    route(
        "incentives",
        "POST",
        "/periods/{period}/calculate",
        "incentives:calculate",
        lambda r: Req(f"/periods/{r['matrix_period']}/calculate"),
    ),
    route(
        "incentives",
        "POST",
        "/periods/{period}/approve",
        "incentives:approve",
        lambda r: Req(f"/periods/{r['matrix_period']}/approve"),
        ok=(200, 409),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/totals",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/totals"),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/decisions",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/decisions"),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/adjustments",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/adjustments"),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/fairness",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/fairness"),
    ),
    # The current month was approved in setup: the first payer exports the batch, the next
    # finds nothing left; then the file, the bank's results and the close.
    route(
        "incentives",
        "POST",
        "/periods/{period}/payment-batches",
        "incentives:pay",
        lambda r: Req(f"/periods/{r['period']}/payment-batches"),
        ok=(201, 409),
        capture=_record_batch,
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/payment-batches",
        "incentives:pay",
        lambda r: Req(f"/periods/{r['period']}/payment-batches"),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/payment-batches/{batch_id}/file",
        "incentives:pay",
        lambda r: Req(f"/periods/{r['period']}/payment-batches/{r['matrix_batch']}/file"),
        capture=_record_result_file,
    ),
    route(
        "incentives",
        "POST",
        "/periods/{period}/payment-batches/{batch_id}/results",
        "incentives:pay",
        lambda r: Req(
            f"/periods/{r['period']}/payment-batches/{r['matrix_batch']}/results",
            content=r["matrix_result_file"],
            headers=CSV,
        ),
    ),
    route(
        "incentives",
        "POST",
        "/periods/{period}/close",
        "incentives:pay",
        lambda r: Req(f"/periods/{r['period']}/close"),
        ok=(200, 409),  # the second caller: already closed
    ),
    # Against the latest earlier calculated period (the matrix's own month, calculated above).
    route(
        "incentives",
        "GET",
        "/periods/{period}/changes",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/changes"),
        ok=(200, 409),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/changes/{kind}",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/changes/added"),
        ok=(200, 409),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/decisions/{cadre_id}",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/decisions/{r['cadre']}"),
    ),
    route(
        "incentives",
        "GET",
        "/periods/{period}/decisions/{cadre_id}/explanation.html",
        "incentives:read",
        lambda r: Req(f"/periods/{r['period']}/decisions/{r['cadre']}/explanation.html"),
    ),
]

NOTIFICATIONS = [
    *platform_routes("notifications"),
    route(
        "notifications",
        "POST",
        "/subscriptions",
        "notifications:subscribe",
        lambda r: Req("/subscriptions", json=r["subscription_body"]),
        ok=(201,),
    ),
    route("notifications", "GET", "/subscriptions", "notifications:subscribe"),
    route(
        "notifications",
        "GET",
        "/subscriptions/{subscription_id}",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}"),
    ),
    route(
        "notifications",
        "POST",
        "/subscriptions/{subscription_id}/pause",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}/pause"),
    ),
    route(
        "notifications",
        "POST",
        "/subscriptions/{subscription_id}/resume",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}/resume"),
    ),
    route(
        "notifications",
        "GET",
        "/subscriptions/{subscription_id}/deliveries",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}/deliveries"),
    ),
    route(
        "notifications",
        "POST",
        "/subscriptions/{subscription_id}/redeliver",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}/redeliver", json={"since": "2026-01-01T00:00:00+08:00"}),
        ok=(202,),
    ),
    route(
        "notifications",
        "POST",
        "/subscriptions/{subscription_id}/secret/rotate",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription']}/secret/rotate"),
    ),
    route(
        "notifications",
        "DELETE",
        "/subscriptions/{subscription_id}",
        "notifications:subscribe",
        lambda r: Req(f"/subscriptions/{r['subscription_delete']}"),
        ok=(200, 404),  # the second caller: already deleted
    ),
    route(
        "notifications",
        "POST",
        "/broadcasts",
        "notifications:broadcast",
        lambda r: Req("/broadcasts", json=r["broadcast_body"]),
        ok=(201,),
    ),
    route("notifications", "GET", "/broadcasts", "notifications:broadcast"),
    route(
        "notifications",
        "GET",
        "/broadcasts/{broadcast_id}",
        "notifications:broadcast",
        lambda r: Req(f"/broadcasts/{r['broadcast']}"),
    ),
    # Public: the signed link in every message (a real token for a real cadre).
    route(
        "notifications",
        "GET",
        "/unsubscribe/{token}",
        PUBLIC,
        lambda r: Req(f"/unsubscribe/{r['unsubscribe_token']}"),
        write=False,  # only the confirmation page: a mail scanner fetching the link changes nothing
    ),
    route(
        "notifications",
        "POST",
        "/unsubscribe/{token}",
        PUBLIC,
        lambda r: Req(f"/unsubscribe/{r['unsubscribe_token']}"),
        write=True,  # records the opt-out (the page's button, RFC 8058 one-click)
    ),
    route(
        "notifications",
        "POST",
        "/unsubscribe/{token}/resubscribe",
        PUBLIC,
        lambda r: Req(f"/unsubscribe/{r['unsubscribe_token']}/resubscribe"),
        write=True,  # removes it again
    ),
    route("notifications", "GET", "/deliveries", "admin"),
    route("notifications", "GET", "/rules", "admin"),
]

ROUTES: dict[str, list[Route]] = {
    "registry": REGISTRY,
    "certification": CERTIFICATION,
    "incentives": INCENTIVES,
    "notifications": NOTIFICATIONS,
}


def code_access(app: FastAPI) -> Iterator[tuple[str, str, str]]:
    """(method, path, access) of every route as the code declares it: the scope named by
    the `require(...)` dependency, ANY_KEY for `require()`, PUBLIC without one."""

    def scopes(dependant: Any) -> Iterator[str | None]:
        for sub in dependant.dependencies:
            call = sub.call
            if getattr(call, "__qualname__", "") == "require.<locals>.dependency":
                cells = dict(zip(call.__code__.co_freevars, call.__closure__ or (), strict=True))
                yield cells["scope"].cell_contents
            yield from scopes(sub)

    for rc in iter_route_contexts(app.routes):
        if isinstance(rc.original_route, Mount):
            yield "GET", str(rc.path), PUBLIC
            continue
        dependant = getattr(rc, "dependant", None)
        found = list(scopes(dependant)) if dependant is not None else []
        assert len(found) <= 1, f"{rc.path}: more than one auth dependency"
        access = PUBLIC if not found else (found[0] or ANY_KEY)
        for method in sorted((rc.methods or set()) - {"HEAD"}):
            yield method, str(rc.path), access
