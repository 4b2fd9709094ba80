"""Incentives' input events (handlers.inputs): projections, live decisions and their
announcements; the projector's recompute after a new policy."""

from __future__ import annotations

from datetime import date

import pytest

from incentives.adapters.tables import CadreRow, LiveEligibilityRow, PaymentDetailsRow, StagedInputRow
from incentives.config import IncentivesConfig
from incentives.domain.policy import REQUIREMENTS
from incentives.handlers import inputs, policies
from sikader_shared import events as ev
from sikader_shared.errors import Unavailable
from sikader_shared.testing.handlers import HandlerHarness
from tests.incentives.city import PERIOD, feed, small_city
from tests.incentives.helpers import KEL_A, Registry


async def test_input_events_fill_the_projections_and_announce_changed_eligibility(
    incentives_pg: HandlerHarness,
) -> None:
    db = incentives_pg  # asyncpg array reads, the deciding lock
    city = await small_city(db)
    announced = [e for e in await db.new_events() if isinstance(e, ev.IncentiveEligibilityChanged)]
    # Posyandu A is verified: its three cadres are paid; B's cadre is not, and not announced.
    assert sorted((e.cadre_id, e.eligible, e.amount) for e in announced) == sorted(
        [(city["a"][0], True, 500_000), (city["a"][1], True, 350_000), (city["a"][2], True, 250_000)]
    )
    assert all(e.period == PERIOD and e.previous_eligible is None for e in announced)
    assert len(await db.rows(CadreRow)) == 4 and len(await db.rows(PaymentDetailsRow)) == 2
    assert {r.cadre_id for r in await db.rows(LiveEligibilityRow, eligible=True)} == set(city["a"])

    # A deactivation changes one outcome: one announcement, naming the previous one.
    late = ev.CadreDeactivated(
        cadre_id=city["a"][1],
        kelurahan_code=KEL_A,
        kecamatan_code=KEL_A[:8],
        reason="resigned",
        effective_on=date(2026, 3, 1),
    )
    await feed(db, late)
    [changed] = await db.new_events()
    assert isinstance(changed, ev.IncentiveEligibilityChanged)
    assert (changed.cadre_id, changed.eligible, changed.previous_eligible, changed.previous_amount) == (
        city["a"][1],
        False,
        True,
        350_000,
    )
    [row] = await db.rows(LiveEligibilityRow, cadre_id=city["a"][1])
    assert row.eligible is False

    # The same facts again change nothing: nothing announced.
    await feed(db, late)
    assert await db.new_events() == []


async def test_payment_details_without_the_payment_key_are_refused(incentives_db: HandlerHarness) -> None:
    cadre = Registry.cadre_registered(None)
    with pytest.raises(Unavailable, match="SIKADER_PAYMENT_KEY"):
        await feed(incentives_db, cadre, Registry.payment_details(cadre.cadre_id), config=IncentivesConfig(None))
    assert await incentives_db.rows(CadreRow) == []  # the whole batch is rolled back
    await feed(incentives_db, cadre, config=IncentivesConfig(None))  # other events need no key
    assert len(await incentives_db.rows(CadreRow)) == 1


async def test_a_new_policy_is_applied_to_everyone_by_the_projector(incentives_db: HandlerHarness) -> None:
    db = incentives_db
    city = await small_city(db)
    await db.new_events()
    async with db.uow() as uow:
        await policies.create_policy(
            uow,
            effective_from=PERIOD,
            amounts={"Purwa": 100_000, "Madya": 200_000, "Utama": 300_000},
            requirements=list(REQUIREMENTS),
            cap_per_posyandu=1,
            budget_ceiling=None,
            note="",
        )
        await uow.commit()
    assert len(await db.rows(StagedInputRow)) == 1
    async with db.uow() as uow:
        assert await inputs.project_staged(uow) == 1
        await uow.commit()
    assert await db.rows(StagedInputRow) == []
    changed = {e.cadre_id: (e.eligible, e.amount) for e in await db.new_events()}
    # Cap 1: only the Utama cadre of A is paid now, at the new amount.
    assert changed == {city["a"][0]: (True, 300_000), city["a"][1]: (False, 0), city["a"][2]: (False, 0)}
    async with db.uow() as uow:
        assert await inputs.project_staged(uow) == 0  # nothing staged: nothing done
