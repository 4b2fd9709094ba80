"""Insentif against the four real services: calculate with one agency's key, approval refused
to the same agency (segregation of duties explained) and granted to another, the fairness
chart, the decisions with reasons and one explained, the payment file, bank results, close."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from console.domain.incentives import approval_refusal, fairness_chart, rupiah
from sikader_shared.clock import WITA
from sikader_shared.testing.checks import eventually
from tests.console.conftest import csrf_of
from tests.console.story import cadre, certified, verified_posyandu


async def _act(b: Any, period: str, action: str) -> str:
    page = await b.get(f"/insentif/{period}")
    data = {"csrf_token": csrf_of(page.text), "action": action}
    if action == "approve":
        import re

        found = re.search(r'name="decision_hash" value="([^"]*)"', page.text)
        data["decision_hash"] = found.group(1) if found else ""
    r = await b.post(f"/insentif/{period}/aksi", data=data)
    assert r.status_code == 303 and r.headers["location"] == f"/insentif/{period}"
    return str((await b.get(r.headers["location"])).text)


async def test_a_month_from_calculation_to_close(stack_console: Any) -> None:
    pid = await verified_posyandu(stack_console)
    cid = await cadre(stack_console, pid)
    await certified(stack_console, cid)
    period = datetime.now(WITA).strftime("%Y-%m")
    async with stack_console.services["incentives"].client(stack_console.keys["calculator"]) as inc:

        async def eligible() -> bool:
            r = await inc.get(f"/eligibility/{cid}", params={"period": period})
            return r.status_code == 200 and bool(r.json()["eligible"])

        await eventually(eligible, "incentives to see the cadre eligible", timeout=30)
    async with stack_console.signed_in("calculator") as b:
        listed = await b.get("/insentif")
        assert listed.status_code == 200 and f'data-testid="period-{period}"' in listed.text
        html = await _act(b, period, "calculate")
        assert 'id="period-state">calculated<' in html and 'id="eligible-cadres">1<' in html
        assert 'id="fairness-chart"' in html and '<title id="fairness-chart-title">' in html
        assert f'data-testid="explain-{cid}"' in html and 'id="changes-problem"' in html
        explained = await b.get(f"/insentif/{period}/kader/{cid}")
        assert explained.status_code == 200 and 'id="rules"' in explained.text and "Posyandu Kenanga" in explained.text
    async with stack_console.signed_in("approver_same") as b:
        html = await _act(b, period, "approve")
        assert "Pemisahan tugas" in html and "segregation of duties" in html and 'id="period-state">calculated<' in html
    async with stack_console.signed_in("approver_other") as b:
        html = await _act(b, period, "approve")
        assert 'id="period-state">approved<' in html and 'id="approved-by"' in html
        html = await _act(b, period, "pay")
        assert 'data-testid="payment-file"' in html
        import re

        href = re.search(r'href="(/insentif/[^"]+\.csv)" data-testid="payment-file"', html)
        assert href
        payment = await b.get(href.group(1))
        assert payment.status_code == 200
        lines = payment.text.splitlines()
        assert len(lines) == 2
        results = "reference,result,failure_reason,paid_on\n" + "".join(
            f"{line.split(',')[0]},paid,,{datetime.now(WITA).date().isoformat()}\n" for line in lines[1:]
        )
        form_action = re.search(r'action="(/insentif/[^"]+/hasil)"', html)
        assert form_action
        r = await b.post(
            form_action.group(1),
            data={"csrf_token": csrf_of(html)},
            files={"file": ("hasil.csv", results.encode(), "text/csv")},
        )
        html = (await b.get(r.headers["location"])).text
        assert 'id="period-state">paid<' in html, html[:3000]
        html = await _act(b, period, "close")
        assert 'id="period-state">closed<' in html


def test_fairness_chart_marks_the_kelurahan_below_the_threshold() -> None:
    report = {
        "city_median_amount_per_cadre": 200000.0,
        "fairness_flag_ratio": 0.8,
        "kelurahan": [
            {"kelurahan_code": "a", "amount_per_cadre": 250000.0, "ratio_to_median": 1.25, "below_threshold": False},
            {"kelurahan_code": "b", "amount_per_cadre": 100000.0, "ratio_to_median": 0.5, "below_threshold": True},
            {"kelurahan_code": "c", "amount_per_cadre": None, "ratio_to_median": None},
        ],
    }
    chart = fairness_chart(report, {"a": "Klandasan Ilir"})
    assert [b.code for b in chart.bars] == ["b", "a", "c"] and chart.flagged == 1
    assert chart.bars[1].name == "Klandasan Ilir" and chart.bars[0].name == "b"
    assert chart.bars[1].width > chart.bars[0].width > 0 and chart.bars[2].width == 0
    assert chart.median_x is not None and chart.label_width < chart.median_x < chart.width
    assert rupiah(1250000) == "Rp 1.250.000" and rupiah(None) == "\u2013"
    assert approval_refusal(403, "the key that calculated the period cannot approve it", True) == "segregation"
    assert approval_refusal(403, "this key lacks the scope", False) == "refused"
