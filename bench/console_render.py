"""Console render times (issue 17 item 9): every console page with 1,000 Posyandu and 10,000
cadres loaded. Targets: each page under 300 ms at p95, the map's GeoJSON under 200 ms.

The whole system as `make run` has it, each part its own process: Apache Kafka (the benches'
local broker), the four services and the console on PostgreSQL (a fresh database each, dropped
at the end), the development mail catcher for the notifications. Loaded through the public
APIs with an admin key issued with the registry's CLI:

- Posyandu (`--posyandu`), spread over the 34 kelurahan, imported from a CSV: a point within
  about 450 m of the kelurahan's centroid (2 % without), facility mix as the demo data (many
  meet in a resident's house), 85 % assessed, 75 % with an SK; of the assessed, some verified,
  some rejected, the rest waiting in the verification queue;
- cadres (`--cadres`, the registry's CSV import), spread evenly over the Posyandu, with phones
  and payment details;
- `--certified` of them certified (Purwa / Madya / Utama) by assessments at certification, and
  one completed training;
- incentives: the previous month calculated, then more Posyandu verified, then the current
  month calculated (each until two calculations agree), so the period page has changes.

Then a person's key (officer's scopes, no registry:pii, so points in residents' houses are
approximate and cadres masked) is issued with the CLI, signed in at /masuk, and each page is
requested `--warmup` times, then `--requests` times one after another. Figures per page:
p50 / p95 / max of the HTTP round trip from a client on this machine (the figure held to the
target), the console's own time for the same requests (its "http" log line; the console sends
no Server-Timing header), and the services' calls each page made (their "http" log lines,
matched by the X-Correlation-ID the console forwards), to say where a slow page spends it.

    python -m bench.console_render                 # 1,000 Posyandu, 10,000 cadres, 50 requests a page
    python -m bench.console_render --small         # smoke size (make bench-smoke): 68 Posyandu, 300 cadres, 3 requests
    python -m bench.console_render --explain       # also the slow SQL (auto_explain, >= 20 ms) per database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.common import (  # noqa: E402
    FLOWERS,
    broker,
    cpu_seconds,
    csv_bytes,
    database,
    drop_database,
    machine,
    service_env,
    table,
    use_postgres,
)
from registry.adapters.wilayah_file import load_wilayah  # noqa: E402
from registry.entrypoints.import_cli import upload  # noqa: E402
from sikader_shared.clock import WITA  # noqa: E402
from sikader_shared.crypto import new_key  # noqa: E402
from sikader_shared.testing.broker import TestBroker, free_port, wait_kafka_ready  # noqa: E402
from sikader_shared.testing.services import ConsoleProcess, SubprocessService  # noqa: E402

SERVICES = ("registry", "certification", "incentives", "notifications")
PAGE_TARGET_MS, GEOJSON_TARGET_MS = 300.0, 200.0
OFFICER_SCOPES = (
    "registry:read,registry:write,posyandu:verify,certification:train,certification:assess,"
    "certification:revoke,incentives:read,notifications:broadcast"
)
OFFICER_LABEL = "Siti Rahmawati (Dinkes)"

# The demo data's mix (registry/entrypoints/demo.py): many meet in a resident's house.
FACILITIES = ["resident_house"] * 9 + ["public_building"] * 6 + ["own_building"] * 3 + ["none"] * 2
EQUIPMENT = ["dacin", "digital_scale", "height_board", "muac_tape", "kia_book", "recording_place"]
WOMEN = ["Siti Aminah", "Nur Hidayah", "Sri Wahyuni", "Dewi Lestari", "Rina Marlina", "Fitriani", "Rahmawati",
         "Yuliana", "Hasanah", "Masitah", "Nurul Aini", "Sarinah", "Kartini", "Suryani", "Halimah"]  # fmt: skip
MEN = ["Budi Santoso", "Ahmad Fauzi", "Rudi Hartono", "Syamsul Bahri", "Andi Pratama", "Hendra Gunawan"]
STREETS = ["Jl. Jend. Sudirman", "Jl. MT Haryono", "Jl. Ahmad Yani", "Jl. Soekarno-Hatta", "Jl. Mulawarman"]
POSYANDU_HEADER = ["name", "kelurahan_code", "posyandu_type", "address", "rt", "sk_number", "sk_date",
                   "facility_status", "equipment", "assessed_by", "assessed_on", "latitude", "longitude"]  # fmt: skip
CADRE_HEADER = ["nik", "name", "sex", "birth_date", "phone", "address", "roles", "posyandu_id", "posyandu_role",
                "joined_on", "payment_method", "bank", "account_number"]  # fmt: skip
METRES_PER_DEGREE = 111_320
LEVEL_GROUPS = {"Purwa": 3, "Madya": 4, "Utama": 5}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def ok(r: httpx.Response, *expected: int) -> Any:
    if r.status_code not in (expected or (200, 201)):
        raise RuntimeError(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text[:500]}")
    return r.json() if "json" in r.headers.get("content-type", "") else r.text


# -- the data --------------------------------------------------------------------------------------


@dataclass
class Plan:
    posyandu_rows: list[list[Any]]
    posyandu: list[dict[str, Any]]  # per row: kelurahan, assessed, has_sk, facility, has_point
    cadre_rows: list[list[Any]] = field(default_factory=list)


def posyandu_plan(count: int, rng: random.Random) -> Plan:
    kelurahan = load_wilayah("6471.json").all_kelurahan()
    today = datetime.now(WITA).date()
    rows: list[list[Any]] = []
    meta: list[dict[str, Any]] = []
    for i in range(count):
        kel = kelurahan[i % len(kelurahan)]
        n = i // len(kelurahan)
        flower = FLOWERS[n % len(FLOWERS)]
        facility = rng.choice(FACILITIES)
        assessed = rng.random() < 0.85
        has_sk = rng.random() < 0.75
        point: tuple[float, float] | None = None
        if rng.random() >= 0.02:
            r, angle = 450 * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
            lat = kel.latitude + r * math.sin(angle) / METRES_PER_DEGREE
            lon = kel.longitude + r * math.cos(angle) / (METRES_PER_DEGREE * math.cos(math.radians(kel.latitude)))
            point = (round(lat, 6), round(lon, 6))
        rows.append(
            [
                f"Posyandu {flower} {n + 1}",
                kel.code,
                "balita" if n % 3 else rng.choice(["balita", "lansia", "remaja", "ILP"]),
                f"{rng.choice(STREETS)} Gg. {flower} No. {rng.randint(1, 80)}",
                f"{rng.randint(1, 60):03d}",
                f"188.4/{rng.randint(1, 99)}/{kel.code[-4:]}/2024" if has_sk else "",
                "2024-07-01" if has_sk else "",
                facility if assessed else "",
                ";".join(rng.sample(EQUIPMENT, rng.randint(1, len(EQUIPMENT)))) if assessed else "",
                f"Puskesmas {kel.name}" if assessed else "",
                (today - timedelta(days=rng.randint(1, 200))).isoformat() if assessed else "",
                *(point or ("", "")),
            ]
        )
        meta.append({"kelurahan": kel, "assessed": assessed, "has_sk": has_sk, "facility": facility,
                     "has_point": point is not None})  # fmt: skip
    return Plan(rows, meta)


def cadre_rows(count: int, posyandu_ids: list[str], plan: Plan, rng: random.Random) -> list[list[Any]]:
    """`count` cadres, spread evenly over the Posyandu; distinct NIKs (a birth date of its own
    for each of the first 13,000)."""
    rows: list[list[Any]] = []
    for i in range(count):
        p = i % len(posyandu_ids)
        kel = plan.posyandu[p]["kelurahan"]
        female = rng.random() < 0.9
        birth = date(1965, 1, 1) + timedelta(days=(i * 7) % 13000)
        day = birth.day + (40 if female else 0)
        region = kel.kecamatan_code.replace(".", "")
        nik = f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{i // 13000 + 1:04d}"
        method = rng.choices(["bank", "e_wallet", ""], [6, 2, 2])[0]
        phone = f"0812{rng.randint(10_000_000, 99_999_999)}"
        rows.append(
            [
                nik,
                rng.choice(WOMEN if female else MEN),
                "P" if female else "L",
                birth.isoformat(),
                phone,
                f"{rng.choice(STREETS)} RT {rng.randint(1, 60):03d}, {kel.name}",
                "posyandu_cadre;pkk" if rng.random() < 0.3 else "posyandu_cadre",
                posyandu_ids[p],
                "ketua" if i < len(posyandu_ids) else "core",
                date(rng.randint(2010, 2025), rng.randint(1, 12), 1).isoformat(),
                method,
                ("BPD_KALTIMTARA" if method == "bank" else "DANA") if method else "",
                (str(rng.randint(10**9, 10**10 - 1)) if method == "bank" else phone) if method else "",
            ]
        )
    return rows


def ids_by_line(report: dict[str, Any], rows: int, id_field: str) -> list[str]:
    by_line = {item["line"]: item[id_field] for item in report["registered_ids"] + report["existing"]}
    return [by_line[line] for line in range(2, rows + 2)]


async def gathered(limit: int, calls: list[Coroutine[Any, Any, Any]]) -> list[Any]:
    """The coroutines, at most `limit` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Coroutine[Any, Any, Any]) -> Any:
        async with gate:
            return await call

    return await asyncio.gather(*(one(c) for c in calls))


@dataclass
class Loaded:
    posyandu_ids: list[str]
    cadre_ids: list[str]
    certified: list[str]
    kelurahan_codes: list[str]
    kecamatan_codes: list[str]
    period: str = ""
    previous_period: str = ""
    eligible: list[str] = field(default_factory=list)
    training_id: str = ""
    broadcast_id: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


async def load(urls: dict[str, str], key: str, args: argparse.Namespace) -> Loaded:
    rng = random.Random(6471)
    started = time.perf_counter()
    steps: dict[str, float] = {}

    def mark(step: str) -> None:
        steps[step] = round(time.perf_counter() - started, 1)

    headers = {"Authorization": f"Bearer {key}"}
    plan = posyandu_plan(args.posyandu, rng)
    async with (
        httpx.AsyncClient(base_url=urls["registry"], headers=headers, timeout=300) as registry,
        httpx.AsyncClient(base_url=urls["certification"], headers=headers, timeout=120) as certification,
        httpx.AsyncClient(base_url=urls["incentives"], headers=headers, timeout=300) as incentives,
    ):
        report = await upload(registry, "posyandu", csv_bytes(POSYANDU_HEADER, plan.posyandu_rows), chunk_rows=1000)
        if report["rejected"]:
            raise RuntimeError(f"Posyandu rejected: {report['errors'][:3]}")
        posyandu_ids = ids_by_line(report, args.posyandu, "posyandu_id")
        mark("posyandu_imported_s")

        # Of the assessed: with an SK about half verified, some rejected; the rest wait in the queue.
        decisions: list[tuple[str, dict[str, Any]]] = []
        later: list[str] = []  # verified between the two periods' calculations (the period's changes)
        for pid, p in zip(posyandu_ids, plan.posyandu, strict=True):
            if not p["assessed"]:
                continue
            roll = rng.random()
            if p["has_sk"] and roll < 0.45:
                decisions.append((pid, {"decision": "VERIFIED", "note": "bench: checked on site"}))
            elif p["has_sk"] and roll < 0.5:
                later.append(pid)
            elif roll > 0.9:
                decisions.append((pid, {"decision": "REJECTED", "reason": "no SK from the lurah yet"}))

        async def decide(pid: str, body: dict[str, Any]) -> None:
            ok(await registry.post(f"/posyandu/{pid}/verification", json=body), 201)

        await gathered(6, [decide(pid, body) for pid, body in decisions])
        mark("posyandu_decided_s")

        plan.cadre_rows = cadre_rows(args.cadres, posyandu_ids, plan, rng)
        report = await upload(registry, "cadres", csv_bytes(CADRE_HEADER, plan.cadre_rows), chunk_rows=2500)
        if report["rejected"]:
            raise RuntimeError(f"cadres rejected: {report['errors'][:3]}")
        cadre_ids = ids_by_line(report, args.cadres, "cadre_id")
        mark("cadres_imported_s")

        # Certified: every k-th cadre, the levels in turn (assessments as the demo's).
        stride = max(1, args.cadres // max(1, args.certified))
        chosen = cadre_ids[::stride][: args.certified]
        groups = ok(await certification.get("/skills"))["groups"]
        await known_at(certification, chosen[-1:] + cadre_ids[-1:], 600)
        today = datetime.now(WITA).date()
        levels = list(LEVEL_GROUPS)
        certified: list[str] = []

        async def certify(i: int, cadre_id: str) -> None:
            level = levels[i % len(levels)]
            target = groups[:2] + groups[2 : LEVEL_GROUPS[level]]
            results = [{"skill_code": s["code"], "passed": True} for g in target for s in g["skills"]]
            body = {"cadre_id": cadre_id, "assessor": "Puskesmas Damai",
                    "assessed_on": (today - timedelta(days=1 + i % 20)).isoformat(), "results": results}  # fmt: skip
            deadline = time.monotonic() + 300
            while True:  # until certification has consumed the cadre's registration
                r = await certification.post("/assessments", json=body)
                if r.status_code == 201 or time.monotonic() > deadline:
                    if ok(r, 201).get("certificate"):
                        certified.append(cadre_id)
                    return
                await asyncio.sleep(0.5)

        await gathered(6, [certify(i, c) for i, c in enumerate(chosen)])
        participants = chosen[: min(40, len(chosen))]  # a class
        training = ok(await certification.post("/trainings", json={
            "title": "Pelatihan dasar kader Posyandu", "organiser": "dinkes",
            "skill_codes": [s["code"] for g in groups[:2] for s in g["skills"]],
            "started_on": (today - timedelta(days=30)).isoformat(), "ends_on": (today - timedelta(days=28)).isoformat(),
            "place": "Aula Dinas Kesehatan Kota Balikpapan", "participants": participants,
        }), 201)  # fmt: skip
        ok(await certification.post(f"/trainings/{training['training_id']}/completion", json={
            "attended": participants, "completed_on": (today - timedelta(days=28)).isoformat()}))  # fmt: skip
        mark("certified_s")

        # Incentives: the previous month, then more Posyandu verified, then this month.
        period = today.strftime("%Y-%m")
        previous = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
        first = await calculate(incentives, previous, 0)
        mark("previous_period_calculated_s")
        await gathered(6, [decide(pid, {"decision": "VERIFIED", "note": "bench"}) for pid in later])
        await asyncio.sleep(2.0)  # the verifications' events on their way to incentives
        second = await calculate(incentives, period, len(certified))
        mark("period_calculated_s")
        decisions_page = ok(await incentives.get(f"/periods/{period}/decisions", params={"limit": 200}))
        eligible = [d["cadre_id"] for d in decisions_page.get("items", []) if d.get("eligible")]
        if not eligible:
            eligible = [d["cadre_id"] for d in decisions_page.get("items", [])]

    kel_codes = sorted({p["kelurahan"].code for p in plan.posyandu})
    kec_codes = sorted({p["kelurahan"].kecamatan_code for p in plan.posyandu})
    summary = {
        "posyandu": len(posyandu_ids),
        "posyandu_without_point": sum(not p["has_point"] for p in plan.posyandu),
        "posyandu_in_residents_houses": sum(p["assessed"] and p["facility"] == "resident_house" for p in plan.posyandu),
        "posyandu_assessed": sum(p["assessed"] for p in plan.posyandu),
        "posyandu_verified": sum(b["decision"] == "VERIFIED" for _, b in decisions) + len(later),
        "posyandu_rejected": sum(b["decision"] == "REJECTED" for _, b in decisions),
        "kelurahan": len(kel_codes),
        "cadres": len(cadre_ids),
        "certified": len(certified),
        "trained": len(participants),
        "periods": {previous: _calc_summary(first), period: _calc_summary(second)},
        "seconds": steps,
    }
    loaded = Loaded(posyandu_ids, cadre_ids, certified, kel_codes, kec_codes, period, previous, eligible)
    loaded.training_id, loaded.summary = str(training["training_id"]), summary
    return loaded


async def broadcast(url: str, key: str, kelurahan_code: str) -> str:
    """One WhatsApp broadcast of the officer's agency to a kelurahan's cadres (the Siaran pages)."""
    body = {
        "title": "Sosialisasi Sekolah Rakyat",
        "message": "Ibu kader, sosialisasi Sekolah Rakyat di kantor kelurahan hari Sabtu pukul 09.00.",
        "channels": ["whatsapp"],
        "kecamatan_codes": [],
        "kelurahan_codes": [kelurahan_code],
        "roles": ["posyandu_cadre"],
    }
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
        return str(ok(await client.post("/broadcasts", json=body), 201, 202)["id"])


async def known_at(client: httpx.AsyncClient, cadre_ids: list[str], timeout: float) -> None:
    """Until the service has consumed these cadres' registrations (one poll a second, rather
    than assessments refused meanwhile)."""
    deadline = time.monotonic() + timeout
    for cadre_id in cadre_ids:
        while (await client.get(f"/cadres/{cadre_id}")).status_code != 200 and time.monotonic() < deadline:
            await asyncio.sleep(1.0)


def _calc_summary(result: dict[str, Any]) -> str:
    return f"{result.get('cadres_evaluated')} evaluated, {result.get('eligible_cadres')} eligible"


async def calculate(client: httpx.AsyncClient, period: str, certified: int) -> dict[str, Any]:
    """Calculated until two calculations agree (the other services' events still arriving)
    and, when `certified` > 0, cadres were evaluated and some are eligible; for up to 120 s.
    (The previous month evaluates nobody: the cadres were registered this month.)"""
    previous: str | None = None
    result: dict[str, Any] = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        result = ok(await client.post(f"/periods/{period}/calculate"))
        settled = result["decision_hash"] == previous
        if settled and (certified == 0 or (result["cadres_evaluated"] > 0 and result.get("eligible_cadres", 0) > 0)):
            break
        previous = result["decision_hash"]
        await asyncio.sleep(2.0)
    return result


# -- the processes ---------------------------------------------------------------------------------


def issue_key(env: dict[str, str], client: str, scopes: str, label: str) -> str:
    """A key issued as an operator issues one: `sikader-registry keys issue ... --label`."""
    argv = ["keys", "issue", "--client", client, "--scopes", scopes, "--label", label]
    out = subprocess.run(
        [sys.executable, "-m", "registry.entrypoints.cli", *argv],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return str(json.loads(out.stdout)["key"])


async def known_everywhere(urls: dict[str, str], key: str, timeout: float = 90.0) -> None:
    """Until the key answers GET /auth/whoami at every service (sikader.auth.v1 carries it)."""
    deadline = time.monotonic() + timeout
    pending = set(urls.values())
    async with httpx.AsyncClient(timeout=5, headers={"Authorization": f"Bearer {key}"}) as client:
        while pending:
            for url in list(pending):
                if (await client.get(f"{url}/auth/whoami")).status_code == 200:
                    pending.discard(url)
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"key not known at {sorted(pending)} within {timeout} s")
            await asyncio.sleep(0.2)


async def settle(pids: dict[str, int], idle: dict[str, float], quiet_share: float = 0.6, timeout: float = 90.0) -> str:
    """Waits until the processes are quiet (all together under `quiet_share` of one core over
    2 s: consumers and outbox relays done with the load; idle, each consumer's fetch loop
    costs some 5-10 % of a core), so that what is measured is the pages. `idle` gets each
    process's CPU share in the last window (subtracted from the CPU per request)."""
    started = time.monotonic()
    busy = ""
    while time.monotonic() - started < timeout:
        before = {n: cpu_seconds(p) for n, p in pids.items()}
        await asyncio.sleep(2.0)
        used = {n: cpu_seconds(p) - before[n] for n, p in pids.items()}
        idle.update({n: v / 2.0 for n, v in used.items()})
        if sum(used.values()) / 2.0 < quiet_share:
            return f"idle after {time.monotonic() - started:.0f} s"
        busy = ", ".join(f"{n} {v / 2 * 100:.0f}%" for n, v in sorted(used.items(), key=lambda x: -x[1]) if v > 0.02)
    return f"NOT idle after {timeout:.0f} s ({busy})"


# -- measuring -------------------------------------------------------------------------------------


@dataclass
class Page:
    name: str
    paths: list[str]  # requested in turn (different records)
    target_ms: float | None  # None: a download, reported without a target
    direct: bool = False  # the registry itself, not through the console


@dataclass
class Result:
    page: Page
    round_trip: list[float] = field(default_factory=list)
    console: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    bytes: int = 0
    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # "svc GET /route" -> ms
    calls_per_request: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)  # process -> CPU ms per request
    note: str = ""


class LogTail:
    """New JSON lines of a process's log since the last read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def read(self) -> list[dict[str, Any]]:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        out = []
        for line in data.splitlines():
            if line.startswith(b"{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out


async def sign_in(console_url: str, key: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=console_url, timeout=60, follow_redirects=False)
    page = await client.get("/masuk")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if token is None:
        raise RuntimeError(f"no CSRF token on /masuk ({page.status_code})")
    r = await client.post("/masuk", data={"api_key": key, "csrf_token": token.group(1), "next": "/peta"})
    if r.status_code != 303:
        raise RuntimeError(f"sign-in refused: {r.status_code} {r.text[:300]}")
    who = await client.get("/kader/impor")
    if OFFICER_LABEL not in who.text:
        raise RuntimeError(f"/kader/impor after sign-in does not name {OFFICER_LABEL!r} ({who.status_code})")
    return client


async def measure(
    page: Page,
    console: httpx.AsyncClient,
    registry: httpx.AsyncClient,
    tails: dict[str, LogTail],
    pids: dict[str, int],
    idle: dict[str, float],
    warmup: int,
    requests: int,
) -> Result:
    result = Result(page)
    client = registry if page.direct else console
    for i in range(warmup):
        r = await client.get(page.paths[i % len(page.paths)])
        if i == 0 and r.status_code == 404 and not page.direct:
            result.note = "404: not in the console at this commit"
            return result
    for tail in tails.values():
        tail.read()  # skip the warm-up's lines
    ids: set[str] = set()
    cpu_before = {n: cpu_seconds(p) for n, p in pids.items()}
    measuring = time.perf_counter()
    for i in range(requests):
        correlation = f"bench-{uuid.uuid4().hex}"
        ids.add(correlation)
        path = page.paths[(warmup + i) % len(page.paths)]
        started = time.perf_counter()
        r = await client.get(path, headers={"X-Correlation-ID": correlation})
        body = r.content
        result.round_trip.append((time.perf_counter() - started) * 1000)
        result.statuses[r.status_code] += 1
        result.bytes += len(body)
    elapsed = time.perf_counter() - measuring
    result.cpu_ms = {
        n: max(0.0, cpu_seconds(p) - cpu_before[n] - idle.get(n, 0.0) * elapsed) * 1000 / requests
        for n, p in pids.items()
    }
    await asyncio.sleep(0.3)  # the log lines written after the responses
    for name, tail in tails.items():
        for line in tail.read():
            if line.get("msg") != "http":
                continue
            if name == "console":
                # its line is written after the request's correlation id is reset: requests
                # are one at a time, so the lines of this page's route are this page's
                if not page.direct and not str(line.get("route", "")).startswith(("/health", "/static")):
                    result.console.append(float(line["ms"]))
            elif line.get("correlation_id") in ids:
                result.calls[f"{name} {line['method']} {line['route']}"].append(float(line["ms"]))
    result.calls_per_request = {k: len(v) / requests for k, v in result.calls.items()}
    return result


def pages(loaded: Loaded, rng: random.Random) -> list[Page]:
    """The console's pages (and downloads) with varied records, and the registry's GeoJSON."""
    kel = loaded.kelurahan_codes
    kec = loaded.kecamatan_codes
    cadres = rng.sample(loaded.certified or loaded.cadre_ids, min(20, len(loaded.certified or loaded.cadre_ids)))
    posyandu = rng.sample(loaded.posyandu_ids, min(20, len(loaded.posyandu_ids)))
    eligible = loaded.eligible[:20] or cadres
    p = loaded.period
    return [
        Page("/peta", ["/peta"], PAGE_TARGET_MS),
        Page("/peta?kecamatan_code=…", [f"/peta?kecamatan_code={k}" for k in kec], PAGE_TARGET_MS),
        Page("/peta/posyandu.geojson (console)", ["/peta/posyandu.geojson"], GEOJSON_TARGET_MS),
        Page("GET /posyandu.geojson (registry)", ["/posyandu.geojson"], GEOJSON_TARGET_MS, direct=True),
        Page("/peta/posyandu/{id}", [f"/peta/posyandu/{i}" for i in posyandu], PAGE_TARGET_MS),
        Page("/peta/export.csv", ["/peta/export.csv"], None),
        Page("/peta/export.xlsx", ["/peta/export.xlsx"], None),
        Page("/verifikasi", ["/verifikasi"], PAGE_TARGET_MS),
        Page("/kader", ["/kader"], PAGE_TARGET_MS),
        Page("/kader?name=…", [f"/kader?name={n.split()[0]}" for n in WOMEN[:8]], PAGE_TARGET_MS),
        Page("/kader?kelurahan_code=…", [f"/kader?kelurahan_code={k}" for k in kel], PAGE_TARGET_MS),
        Page("/kader/{id}", [f"/kader/{c}" for c in cadres], PAGE_TARGET_MS),
        Page("/kader/impor", ["/kader/impor"], PAGE_TARGET_MS),
        Page("/sertifikasi", ["/sertifikasi"], PAGE_TARGET_MS),
        Page("/sertifikasi?within=90", ["/sertifikasi?within=90"], PAGE_TARGET_MS),
        Page("/sertifikasi/pelatihan/{id}", [f"/sertifikasi/pelatihan/{loaded.training_id}"], PAGE_TARGET_MS),
        Page(
            "/sertifikasi/penilaian?cadre_id=…",
            [f"/sertifikasi/penilaian?cadre_id={c}" for c in cadres],
            PAGE_TARGET_MS,
        ),
        Page("/insentif", ["/insentif"], PAGE_TARGET_MS),
        Page("/insentif/{period}", [f"/insentif/{p}"], PAGE_TARGET_MS),
        Page("/insentif/{period}/kader/{id}", [f"/insentif/{p}/kader/{c}" for c in eligible], PAGE_TARGET_MS),
        Page("/siaran", ["/siaran"], PAGE_TARGET_MS),
        Page("/siaran/{id}", [f"/siaran/{loaded.broadcast_id}"], PAGE_TARGET_MS),
        Page("/siaran/{id}.json", [f"/siaran/{loaded.broadcast_id}.json"], None),
    ]


def verdict(result: Result) -> str:
    target = result.page.target_ms
    if not result.round_trip:
        return "-"
    p95 = pct(result.round_trip, 95)
    if target is None:
        return "(no target)"
    return f"{'met' if p95 <= target else 'MISSED'} ({p95 / target:.2f}x)"


def report(results: list[Result]) -> str:
    rows = []
    for r in results:
        if not r.round_trip:
            rows.append((r.page.name, "", "", "", "", "", "", "", "", r.note or "no requests"))
            continue
        statuses = ",".join(f"{k}x{v}" if len(r.statuses) > 1 else str(k) for k, v in sorted(r.statuses.items()))
        console = f"{pct(r.console, 50):.0f} / {pct(r.console, 95):.0f}" if r.console else "-"
        rows.append(
            (
                r.page.name,
                statuses,
                f"{r.bytes / len(r.round_trip) / 1024:.0f}",
                f"{pct(r.round_trip, 50):.0f}",
                f"{pct(r.round_trip, 95):.0f}",
                f"{max(r.round_trip):.0f}",
                console,
                f"{sum(r.cpu_ms.values()):.0f}",
                f"{r.page.target_ms:.0f}" if r.page.target_ms else "-",
                verdict(r),
            )
        )
    header = ("page", "status", "KiB", "p50 ms", "p95 ms", "max ms", "console p50/p95", "CPU ms", "target", "verdict")
    return table(rows, header)


def breakdown(results: list[Result], only_slow: bool) -> str:
    """The services' calls per page: how many per request and their own p50 / p95 (ms)."""
    lines = []
    for r in results:
        if not r.calls or (only_slow and verdict(r).startswith("met")):
            continue
        cpu = ", ".join(f"{n} {v:.0f}" for n, v in sorted(r.cpu_ms.items(), key=lambda x: -x[1]) if v >= 1)
        lines.append(f"{r.page.name}:  (CPU ms per request above idle: {cpu})")
        for call, values in sorted(r.calls.items(), key=lambda kv: -pct(kv[1], 50) * len(kv[1])):
            count = r.calls_per_request[call]
            lines.append(f"    {count:>5.1f} x {call:<58} p50 {pct(values, 50):>7.1f}  p95 {pct(values, 95):>7.1f}")
    return "\n".join(lines)


# -- slow SQL (optional) ---------------------------------------------------------------------------


PG_LOG = Path("/var/log/postgresql/postgresql-15-main.log")


async def explain_on(urls: dict[str, str], min_ms: int) -> None:
    """auto_explain for the services' databases (new sessions: the services are restarted
    after, or their pools' new connections pick it up); the plans go to PostgreSQL's log."""
    import asyncpg

    for url in urls.values():
        conn = await asyncpg.connect(url)
        try:
            name = await conn.fetchval("SELECT current_database()")
            await conn.execute(f"ALTER DATABASE \"{name}\" SET session_preload_libraries = 'auto_explain'")
            await conn.execute(f'ALTER DATABASE "{name}" SET auto_explain.log_min_duration = {min_ms}')
            await conn.execute(f'ALTER DATABASE "{name}" SET auto_explain.log_analyze = on')
            # (with per-node timing: a clock call per row, so the logged durations run somewhat high)
        finally:
            await conn.close()


def slow_sql(offset: int, databases: dict[str, str], plan_lines: int = 30) -> str:
    """The services' statements over the threshold since `offset` in PostgreSQL's log (auto_explain),
    grouped by statement: how many, p50 / max duration, and the slowest one's plan."""
    try:
        with open(PG_LOG, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError as exc:
        return f"(PostgreSQL's log not readable: {exc})"
    names = {url.rsplit("/", 1)[-1]: service for service, url in databases.items()}
    entries: list[tuple[str, float, list[str]]] = []  # (service, ms, plan lines)
    current: list[str] | None = None
    for line in text.splitlines():
        if re.match(r"^\d{4}-\d\d-\d\d ", line):
            current = None
            hit = next((svc for n, svc in names.items() if f"@{n} " in line), None)
            found = re.search(r"duration: ([\d.]+) ms\s+plan:", line)
            if hit is not None and found:
                current = []
                entries.append((hit, float(found.group(1)), current))
        elif current is not None:
            current.append(line.rstrip())
    groups: dict[tuple[str, str], list[tuple[float, list[str]]]] = defaultdict(list)
    for service, ms, plan in entries:
        query = next((ln.split("Query Text:", 1)[1].strip() for ln in plan if "Query Text:" in ln), "?")
        groups[(service, re.sub(r"\s+", " ", query)[:400])].append((ms, plan))
    if not groups:
        return "(no statement over the threshold)"
    out: list[str] = []
    for (service, query), runs in sorted(groups.items(), key=lambda kv: -sum(ms for ms, _ in kv[1])):
        durations = [ms for ms, _ in runs]
        out.append(f"[{service}] {len(runs)} x, p50 {pct(durations, 50):.0f} ms, max {max(durations):.0f} ms: {query}")
        slowest = max(runs, key=lambda r: r[0])[1]
        plan = [ln for ln in slowest if "Query Text:" not in ln and ln.strip()]
        out.extend("      " + ln.strip("\t") for ln in plan[:plan_lines])
    return "\n".join(out)


# -- the run ---------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, broker_start: Future[TestBroker]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="sikader-console-bench-"))
    (workdir / "logs").mkdir()
    dbs = {s: database(s) for s in (*SERVICES, "console")}
    svc: dict[str, SubprocessService] = {}
    console: ConsoleProcess | None = None
    mail: subprocess.Popen[bytes] | None = None
    b: TestBroker | None = None
    started = time.perf_counter()
    try:
        print(f"machine: {machine()}")
        print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
        mail_smtp, mail_http = free_port(), free_port()
        info = {"SIKADER_LOG_LEVEL": "INFO", "SIKADER_TRUSTED_PROXIES": "127.0.0.1/32,::1/128"}
        envs = {
            s: service_env(s, "", dbs[s], workdir, **info, **{f"SIKADER_{s.upper()}_LOG_LEVEL": "INFO"})
            for s in SERVICES
        }
        mail_url = f"http://127.0.0.1:{mail_http}"
        envs["notifications"].update({
            "SIKADER_NOTIFICATIONS_SMTP_HOST": "127.0.0.1", "SIKADER_NOTIFICATIONS_SMTP_PORT": str(mail_smtp),
            "SIKADER_NOTIFICATIONS_SMS_GATEWAY_URL": f"{mail_url}/gateway/sms",
            "SIKADER_NOTIFICATIONS_WHATSAPP_GATEWAY_URL": f"{mail_url}/gateway/whatsapp",
        })  # fmt: skip
        for s in SERVICES:
            svc[s] = SubprocessService(s, envs[s], workdir / "logs" / f"{s}.log")
        urls = {s: svc[s].url for s in SERVICES}
        console = ConsoleProcess(
            {
                "SIKADER_VAR_DIR": str(workdir),
                "SIKADER_CONSOLE_DATABASE_URL": dbs["console"],
                "SIKADER_CONSOLE_SESSION_KEY": new_key(),
                "SIKADER_CONSOLE_SECURE_COOKIES": "false",
                "SIKADER_CONSOLE_TILE_URL": "",
                "SIKADER_CONSOLE_LOG_LEVEL": "INFO",
                **{f"SIKADER_CONSOLE_{s.upper()}_URL": u for s, u in urls.items()},
                "PYTHONPATH": str(ROOT),
            },
            workdir / "logs" / "console.log",
        )
        with open(workdir / "logs" / "mail.log", "ab") as log:
            ports = ["--smtp-port", str(mail_smtp), "--http-port", str(mail_http)]
            mail = subprocess.Popen(
                [sys.executable, "-m", "sikader_shared.testing.devsmtp", *ports, "--dir", str(workdir / "mail")],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        # While the broker's JVM starts: the migrations and the keys (the registry's relay
        # publishes them once it runs).
        await asyncio.gather(*(asyncio.to_thread(s.migrate) for s in svc.values()), asyncio.to_thread(console.migrate))
        admin_key = await asyncio.to_thread(issue_key, envs["registry"], "city-admin", "admin", "bench loader")
        officer_key = await asyncio.to_thread(issue_key, envs["registry"], "dinkes", OFFICER_SCOPES, OFFICER_LABEL)
        kafka: TestBroker = await asyncio.wrap_future(broker_start)
        b = kafka
        await wait_kafka_ready(kafka.bootstrap)
        for s in svc.values():
            s.env["KAFKA_BOOTSTRAP_SERVERS"] = kafka.bootstrap
        await asyncio.gather(*(s.start() for s in svc.values()), console.start())
        await known_everywhere(urls, admin_key)
        names = ", ".join(d.rsplit("/", 1)[-1] for d in dbs.values())
        print(f"broker: {kafka.kind} at {kafka.bootstrap}; PostgreSQL databases {names}")
        print(f"stack up in {time.perf_counter() - started:.0f} s; loading ...", flush=True)

        loaded = await load(urls, admin_key, args)
        await known_everywhere(urls, officer_key)
        loaded.broadcast_id = await broadcast(urls["notifications"], officer_key, loaded.kelurahan_codes[0])
        print(f"loaded in {time.perf_counter() - started:.0f} s: {json.dumps(loaded.summary)}")
        pg_offset = PG_LOG.stat().st_size if args.explain and PG_LOG.exists() else 0
        if args.explain:
            await explain_on({s: dbs[s] for s in SERVICES}, args.explain_ms)
            # the services' pooled connections predate the setting: restart them
            for s in svc.values():
                await s.stop()
            await asyncio.gather(*(s.start() for s in svc.values()))
        pids = {s: v.proc.pid for s, v in svc.items() if v.proc is not None}
        if console.proc is not None:
            pids["console"] = console.proc.pid
        idle: dict[str, float] = {}
        print(f"settling: {await settle(pids, idle, timeout=15 if args.small else 90)}", flush=True)
        print("idle CPU (share of a core): " + ", ".join(f"{n} {v:.0%}" for n, v in sorted(idle.items())))

        tails = {name: LogTail(workdir / "logs" / f"{name}.log") for name in (*SERVICES, "console")}
        browser = await sign_in(console.url, officer_key)
        results: list[Result] = []
        load_before = os.getloadavg()
        measured_at = datetime.now().astimezone()
        async with httpx.AsyncClient(
            base_url=urls["registry"], headers={"Authorization": f"Bearer {officer_key}"}, timeout=60
        ) as registry:
            for page in pages(loaded, random.Random(17)):
                if args.only and not any(o in page.name for o in args.only):
                    continue
                results.append(await measure(page, browser, registry, tails, pids, idle, args.warmup, args.requests))
                last = results[-1]
                done = last.note or (
                    f"p50 {pct(last.round_trip, 50):.0f} ms, p95 {pct(last.round_trip, 95):.0f} ms: {verdict(last)}"
                )
                print(f"  {page.name}: {done}", flush=True)
        await browser.aclose()
        load_after = os.getloadavg()

        print()
        print(f"Console render times, {measured_at:%Y-%m-%d %H:%M %Z}; load average before "
              f"{load_before[0]:.2f} / after {load_after[0]:.2f} (1 min); {args.requests} requests a page "
              f"after {args.warmup} warm-up, one at a time, as {OFFICER_LABEL} (no registry:pii)")  # fmt: skip
        print(f"data: {loaded.summary['posyandu']:,} Posyandu in {loaded.summary['kelurahan']} kelurahan, "
              f"{loaded.summary['cadres']:,} cadres ({loaded.summary['certified']:,} certified), "
              f"periods {loaded.previous_period} and {loaded.period} calculated")  # fmt: skip
        print("round trip = the HTTP request from a client on this machine (keep-alive), the figure held to the")
        print("target; console = the console's own time for the same requests (its log; no Server-Timing header);")
        print("CPU ms = CPU of the console and the four services per request, above their idle (less load-dependent)\n")
        print(report(results))
        print("\nservices' calls per page (count per request x route: the service's own time, ms)"
              + (" for the pages that missed" if not args.all_calls else "") + ":")  # fmt: skip
        print(breakdown(results, only_slow=not args.all_calls) or "    (every page met its target)")
        if args.explain:
            print(f"\nslow SQL (auto_explain, >= {args.explain_ms} ms):")
            print(slow_sql(pg_offset, {s: dbs[s] for s in SERVICES}))
        print(f"\ntotal {time.perf_counter() - started:.0f} s; logs in {workdir / 'logs'}")
    finally:
        if console is not None:
            await console.stop()
        stopped = await asyncio.gather(*(s.stop() for s in svc.values()), return_exceptions=True)
        for s, outcome in zip(svc.values(), stopped, strict=True):
            if isinstance(outcome, BaseException) and s.proc is not None and s.proc.poll() is None:
                s.proc.kill()
        if mail is not None and mail.poll() is None:
            mail.terminate()
            mail.wait(10)
        if b is None:
            try:
                b = broker_start.result(timeout=120)
            except Exception:  # it did not start; the run said why
                b = None
        if b is not None:
            await asyncio.to_thread(b.close)
        for url in dbs.values():
            drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posyandu", type=int, default=1000)
    parser.add_argument("--cadres", type=int, default=10_000)
    parser.add_argument("--certified", type=int, default=1000, help="cadres certified at certification")
    parser.add_argument("--requests", type=int, default=50, help="measured requests per page")
    parser.add_argument("--warmup", type=int, default=5, help="requests per page before measuring")
    parser.add_argument("--small", action="store_true", help="smoke size (68 Posyandu, 300 cadres, 3 requests a page)")
    parser.add_argument("--only", nargs="*", default=[], help="only the pages whose name contains one of these")
    parser.add_argument("--all-calls", action="store_true", help="the services' calls of every page, not only the slow")
    parser.add_argument("--explain", action="store_true", help="auto_explain the services' statements (PostgreSQL log)")
    parser.add_argument("--explain-ms", type=int, default=20)
    args = parser.parse_args()
    if args.small:
        args.posyandu, args.cadres, args.certified, args.requests, args.warmup = 68, 300, 30, 3, 1
    use_postgres()
    pool = ThreadPoolExecutor(1)
    broker_start = pool.submit(broker)  # the JVM starts while the databases are migrated
    try:
        asyncio.run(run(args, broker_start))
    finally:
        pool.shutdown(wait=True)


if __name__ == "__main__":
    main()
