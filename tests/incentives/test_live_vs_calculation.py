"""Issue 14, item 2: events, the eligibility API, messages and the period's calculation never
contradict each other. A cadre certified after the open month was calculated is announced
eligible; the API answers that live decision and says the calculation does not include her;
the period shows it needs recalculation and its approval is refused with the reason until it
is calculated again; then the calculation includes her and approval goes through."""

from __future__ import annotations

from typing import Any

import pytest

from sikader_shared import events as ev
from tests.incentives.helpers import KEL_A, Registry, key, settled, start_incentives, wait_events

pytestmark = pytest.mark.integration
NOV = "2026-11"  # the open month at the helpers' clock


async def test_a_cadre_certified_after_the_calculation_is_answered_live_and_blocks_approval_until_recalculated(
    broker: Any, databases: Any, run_service: Any
) -> None:
    svc = await start_incentives(run_service, broker, databases)
    reg = Registry(broker.bootstrap)
    posyandu, _ = await reg.posyandu(KEL_A, name="Melati")
    first = reg.cadre_registered(posyandu, KEL_A, name="Kader Awal")
    envs = await reg.publish(first)
    envs += await reg.publish(reg.certified(first.cadre_id, "Madya", KEL_A))
    await settled(svc, envs)
    calculator = await key(svc, "dinkes", "incentives:calculate", "incentives:read")
    approver = await key(svc, "bpkad", "incentives:approve", "incentives:read")

    async with svc.client(calculator) as calc, svc.client(approver) as appr:
        calculated = await calc.post(f"/periods/{NOV}/calculate")
        assert calculated.status_code == 200, calculated.text
        assert calculated.json()["needs_recalculation"] is False
        before = await calc.get(f"/eligibility/{first.cadre_id}", params={"period": NOV})
        assert before.status_code == 200
        assert before.json()["calculation"]["included"] and before.json()["calculation"]["matches_live"]

        # Registered and certified after the calculation: announced eligible for November.
        late = reg.cadre_registered(posyandu, KEL_A, name="Kader Baru")
        envs = await reg.publish(late)
        envs += await reg.publish(reg.certified(late.cadre_id, "Purwa", KEL_A))
        await settled(svc, envs)
        [(_, announced)] = await wait_events(
            broker.bootstrap, ev.IncentiveEligibilityChanged, lambda b: b["cadre_id"] == late.cadre_id
        )
        assert (announced["eligible"], announced["period"], announced["amount"]) == (True, NOV, 250_000)

        # The API says the same as the event, and how the calculation stands.
        answer = await calc.get(f"/eligibility/{late.cadre_id}", params={"period": NOV})
        assert answer.status_code == 200, answer.text
        a = answer.json()
        assert (a["eligible"], a["amount"], a["source"], a["period_state"]) == (True, 250_000, "live", "calculated")
        assert a["calculation"]["included"] is False and a["calculation"]["needs_recalculation"] is True

        period = (await calc.get(f"/periods/{NOV}")).json()
        assert period["needs_recalculation"] is True
        refused = await appr.post(f"/periods/{NOV}/approve")
        assert refused.status_code == 409, refused.text
        assert "calculate the period again" in refused.json()["reason"] and refused.json()["needs_recalculation"]

        again = await calc.post(f"/periods/{NOV}/calculate")
        assert again.status_code == 200 and again.json()["needs_recalculation"] is False
        included = (await calc.get(f"/eligibility/{late.cadre_id}", params={"period": NOV})).json()
        assert included["calculation"]["included"] and included["calculation"]["matches_live"]
        assert included["calculation"]["eligible"] is True and included["calculation"]["amount"] == 250_000

        approved = await appr.post(f"/periods/{NOV}/approve")
        assert approved.status_code == 200, approved.text
        paid_to = (await calc.get(f"/eligibility/{late.cadre_id}", params={"period": NOV})).json()
        assert (paid_to["source"], paid_to["eligible"], paid_to["amount"]) == ("calculation", True, 250_000)
