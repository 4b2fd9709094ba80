"""Demo data for certification, through the public API (called by scripts/demo_data.py
after the registry's demo): trains and assesses a deterministic subset of the given cadres
so that some reach each level (Purwa, Madya, Utama)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import datetime, timedelta
from typing import Any

import httpx

from sikader_shared.clock import WITA

LEVEL_GROUPS = {"Purwa": 3, "Madya": 4, "Utama": 5}  # groups to complete (1 and 2 always among them)
ASSESSORS = ("Puskesmas Klandasan Ilir", "Puskesmas Damai", "Puskesmas Sepinggan", "Puskesmas Manggar")


async def wait_until_known(client: httpx.AsyncClient, cadre_ids: list[str], timeout: float = 60.0) -> dict[str, Any]:
    """Poll GET /cadres/{id} until the projection has seen every cadre (registry events
    arrive asynchronously)."""
    deadline = time.monotonic() + timeout
    known: dict[str, Any] = {}
    while True:
        for cadre_id in cadre_ids:
            if cadre_id not in known:
                r = await client.get(f"/cadres/{cadre_id}")
                if r.status_code == 200:
                    known[cadre_id] = r.json()
        if len(known) == len(cadre_ids):
            return known
        if time.monotonic() > deadline:
            missing = sorted(set(cadre_ids) - set(known))
            raise TimeoutError(f"certification has not seen {len(missing)} cadres after {timeout}s: {missing[:5]}")
        await asyncio.sleep(0.5)


async def load_demo(client: httpx.AsyncClient, cadre_ids: list[str], seed: int = 6471) -> dict[str, Any]:
    """`client` has the certification base URL and an admin key. Deterministic for a given
    seed and cadre list: the same cadres get the same levels."""
    rng = random.Random(seed)
    pool = sorted(set(cadre_ids))
    if not pool:
        return {"trained": 0, "certified": {}, "certificates": []}
    size = min(len(pool), max(3, len(pool) // 2))
    chosen = sorted(rng.sample(pool, size))
    known = await wait_until_known(client, chosen)
    active = [c for c in chosen if known[c].get("status") == "active"]

    r = await client.get("/skills")
    r.raise_for_status()
    groups: list[dict[str, Any]] = r.json()["groups"]
    today = datetime.now(WITA).date()

    # One basic training for everyone chosen, completed; one participant in five missed it.
    training = await client.post(
        "/trainings",
        json={
            "title": "Pelatihan dasar kader Posyandu: pengelolaan dan layanan bayi-balita",
            "organiser": "dinkes",
            "skill_codes": [s["code"] for g in groups[:2] for s in g["skills"]],
            "started_on": (today - timedelta(days=30)).isoformat(),
            "ends_on": (today - timedelta(days=28)).isoformat(),
            "place": "Aula Dinas Kesehatan Kota Balikpapan",
            "participants": active,
        },
    )
    training.raise_for_status()
    attended = [c for c in active if rng.random() >= 0.2]
    done = await client.post(
        f"/trainings/{training.json()['training_id']}/completion",
        json={"attended": attended, "completed_on": (today - timedelta(days=28)).isoformat()},
    )
    done.raise_for_status()

    certified: dict[str, list[str]] = {level: [] for level in LEVEL_GROUPS}
    numbers: list[str] = []
    levels = list(LEVEL_GROUPS)
    for i, cadre_id in enumerate(active):
        level = levels[i % len(levels)]
        others = groups[2:]
        extra = rng.sample(others, LEVEL_GROUPS[level] - 2)
        target = groups[:2] + extra
        results = [{"skill_code": s["code"], "passed": True} for g in target for s in g["skills"]]
        # A few failed skills outside the target groups make the history realistic.
        rest = [s for g in others if g not in extra for s in g["skills"]]
        results += [{"skill_code": s["code"], "passed": False} for s in rng.sample(rest, min(2, len(rest)))]
        r = await client.post(
            "/assessments",
            json={
                "cadre_id": cadre_id,
                "assessor": rng.choice(ASSESSORS),
                "assessed_on": (today - timedelta(days=rng.randint(1, 20))).isoformat(),
                "results": results,
            },
        )
        if r.status_code == 409:  # deactivated meanwhile by the registry demo
            continue
        r.raise_for_status()
        outcome = r.json()
        if outcome["certificate"] is not None:
            certified[outcome["level"]].append(cadre_id)
            numbers.append(outcome["certificate"]["number"])
    return {
        "trained": len(attended),
        "certified": {level: len(ids) for level, ids in certified.items()},
        "certified_cadres": certified,
        "certificates": numbers,
    }
