"""The set-based SQL calculation decides exactly as the reference rules (domain.rules.evaluate),
on SQLite and on PostgreSQL, with and without cap and budget ceiling."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from sqlmodel import col, select

from incentives.adapters import calculation as calc
from incentives.adapters import repository, store
from incentives.adapters.tables import DecisionRow
from incentives.app import SERVICE_DIR
from incentives.domain.periods import Period
from incentives.domain.policy import DEFAULT_POLICY, Policy
from incentives.domain.rules import decision_set_hash, evaluate, finish_hash, lines_of
from sikader_shared.db import make_engine, session_factory
from sikader_shared.migrations import upgrade_head
from tests.incentives.factories import random_city

pytestmark = pytest.mark.integration

POLICIES = [
    DEFAULT_POLICY,
    Policy(
        "v2",
        "2026-01",
        {"Purwa": 100_000, "Madya": 200_000, "Utama": 300_000},
        cap_per_posyandu=3,
        budget_ceiling=2_400_000,
    ),
    Policy(
        "v3",
        "2026-01",
        {"Purwa": 1, "Madya": 2, "Utama": 3},
        requirements=("certificate_valid",),
        cap_per_posyandu=None,
        budget_ceiling=40,
    ),
]


@pytest.mark.parametrize("seed", [1, 2])
async def test_sql_calculation_matches_the_reference_rules(databases, seed: int) -> None:
    url = databases("incentives")
    await asyncio.to_thread(upgrade_head, SERVICE_DIR, url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    posyandu, cadres, certs = random_city(seed)
    try:
        async with sessions() as session:
            await store.save_posyandu(session, posyandu)
            await store.save_cadres(session, cadres)
            await store.save_certificates(session, certs)
            await session.commit()
        by_cadre = defaultdict(list)
        for k in certs:
            by_cadre[k.cadre_id].append(k)
        posy = {p.posyandu_id: p for p in posyandu}
        for period in (Period(2026, 10), Period(2026, 11), Period(2026, 12)):
            for policy in POLICIES:
                expected = evaluate(cadres, posy, by_cadre, period, policy, apply_budget=True)
                assert any(d.eligible for d in expected) and not all(d.eligible for d in expected)
                async with sessions() as session:
                    await calc.insert_decisions(session, period, policy)
                    rows = await session.execute(select(DecisionRow).where(col(DecisionRow.period) == str(period)))
                    got = sorted((repository.decision_of(r) for r in rows.scalars()), key=lambda d: d.cadre_id)
                    header = f"{period}|{policy.version}"
                    digest = finish_hash(await calc.decision_lines_digest(session, str(period), header), [])
                    await session.commit()
                assert got == expected, f"{period} {policy.version}"
                assert digest == decision_set_hash(header, lines_of(expected))
    finally:
        await engine.dispose()
