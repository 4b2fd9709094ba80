"""Sertifikasi against the four real services: record an assessment through the page (the
cadre is certified), the statistics chart and tables, the expiry windows, a training's
attendance, and a revocation."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from console.domain.certification import certified_chart, window
from sikader_shared.testing.checks import eventually
from tests.console.conftest import csrf_of
from tests.console.story import cadre, ok, verified_posyandu


async def test_assess_train_and_revoke_through_the_pages(stack_console: Any) -> None:
    pid = await verified_posyandu(stack_console)
    cid = await cadre(stack_console, pid)
    cert = stack_console.services["certification"]
    async with cert.client(stack_console.keys["officer"]) as c:

        async def known() -> bool:
            return (await c.get(f"/cadres/{cid}")).status_code == 200

        await eventually(known, "certification to know the cadre", timeout=30)
        today = date.today().isoformat()
        training = await ok(await c.post("/trainings", json={
            "title": "Pelatihan dasar kader", "skill_codes": ["2.1", "2.2"], "started_on": today, "ends_on": today,
            "participants": [cid],
        }))  # fmt: skip
    async with stack_console.signed_in("officer") as b:
        form = await b.get(f"/sertifikasi/penilaian?cadre_id={cid}")
        assert form.status_code == 200 and 'id="assessment-form"' in form.text and f'value="{cid}"' in form.text
        passed = [f"{g}.{i}" for g in ("1", "2", "3") for i in range(1, 6)]
        r = await b.post(
            "/sertifikasi/penilaian",
            data={"csrf_token": csrf_of(form.text), "cadre_id": cid, "assessor": "Puskesmas Klandasan Ilir",
                  "assessed_on": date.today().isoformat(), "passed": passed},
        )  # fmt: skip
        assert r.status_code == 303 and r.headers["location"] == f"/kader/{cid}"
        detail = (await b.get(r.headers["location"])).text
        assert "Purwa" in detail and 'class="flash flash-ok"' in detail
        overview = await b.get("/sertifikasi")
        assert overview.status_code == 200, overview.text[:2000]
        assert (
            'id="certified-chart"' in overview.text and '<td class="num" id="certified-total">1</td>' in overview.text
        )
        assert "Balikpapan Kota" in overview.text and '<strong id="expiring-90">0</strong>' in overview.text
        assert (await b.get("/sertifikasi?within=60")).status_code == 200
        page = await b.get(f"/sertifikasi/pelatihan/{training['training_id']}")
        assert "Rahmawati Said" in page.text
        done = await b.post(
            f"/sertifikasi/pelatihan/{training['training_id']}",
            data={"csrf_token": csrf_of(page.text), "attended": [cid]},
        )
        assert 'id="record-attendance" disabled' in (await b.get(done.headers["location"])).text
        history = (await b.get(f"/kader/{cid}")).text
        assert "Pelatihan dasar kader" in history
        certificate_id = re.search(r'action="/sertifikasi/sertifikat/([^/]+)/cabut"', history)
        assert certificate_id
        r = await b.post(
            f"/sertifikasi/sertifikat/{certificate_id.group(1)}/cabut",
            data={"csrf_token": csrf_of(history), "reason": "penilaian tidak sah", "back": f"/kader/{cid}"},
        )
        assert r.headers["location"] == f"/kader/{cid}"
        after = (await b.get(r.headers["location"])).text
        assert "Sertifikat dicabut" in after and "revoked" in after
    async with stack_console.signed_in("reader") as b:
        assert 'id="record-assessment" disabled' in (await b.get("/sertifikasi/penilaian")).text


def test_certified_chart_stacks_levels() -> None:
    stats = {
        "levels": ["Purwa", "Madya", "Utama"],
        "kecamatan": [
            {"kecamatan_code": "64.71.06", "by_level": {"Purwa": 3, "Madya": 1, "Utama": 0}, "total": 4},
            {"kecamatan_code": "64.71.01", "by_level": {"Purwa": 1}, "total": 1},
        ],
    }
    chart = certified_chart(stats, {"64.71.06": "Balikpapan Kota"})
    first = chart.bars[0]
    assert first.name == "Balikpapan Kota" and [s.count for s in first.segments] == [3, 1, 0]
    assert first.segments[1].x == first.segments[0].x + first.segments[0].width
    assert chart.bars[1].segments[0].width < first.segments[0].width
    assert window(60) == 60 and window(45) == 30 and window(None) == 30
