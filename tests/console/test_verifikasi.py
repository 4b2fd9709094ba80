"""Verifikasi against the real registry: the queue oldest first with history, institution,
equipment and what is missing; verify, reject and send back; counts change; a key without
posyandu:verify sees why the buttons are disabled."""

from __future__ import annotations

import re
from typing import Any

from console.domain.verification import decision_problem, gaps
from tests.console.conftest import csrf_of

KELURAHAN = "64.71.06.1002"


async def _assessed(registry_console: Any, name: str, sk: bool, on: str) -> str:
    svc = registry_console.services["registry"]
    body: dict[str, Any] = {"name": name, "kelurahan_code": KELURAHAN, "posyandu_type": "balita"}
    if sk:
        body["institution"] = {"sk_number": "188.4/12/KLI/2024", "sk_date": "2024-07-01"}
    async with svc.client(registry_console.keys["officer"]) as c:
        pid = (await c.post("/posyandu", json=body)).json()["id"]
        for day in ("2026-10-01", on):
            r = await c.post(
                f"/posyandu/{pid}/assessments",
                json={
                    "facility_status": "public_building",
                    "equipment": [{"item": "dacin", "available": True, "functional": True}],
                    "assessed_by": "Puskesmas Klandasan Ilir",
                    "assessed_on": day,
                },
            )
            assert r.status_code == 201, r.text
    return str(pid)


async def test_the_queue_shows_each_posyandu_and_decisions_change_the_counts(registry_console: Any) -> None:
    newer = await _assessed(registry_console, "Posyandu Baru", sk=True, on="2026-11-20")
    older = await _assessed(registry_console, "Posyandu Lama", sk=False, on="2026-11-02")
    async with registry_console.signed_in("officer") as b:
        page = await b.get("/verifikasi")
        assert page.status_code == 200, page.text[:2000]
        html = page.text
        ids = re.findall(r'data-posyandu-id="([^"]+)"', html)
        assert ids == [older, newer]  # oldest pending assessment first
        assert '<strong id="queue-total">2</strong>' in html
        assert "SK" in html and "dacin" in html and "Puskesmas Klandasan Ilir" in html
        assert 'data-code="no_sk"' in html  # the older one has no SK: VERIFIED cannot succeed
        assert re.search(rf'id="verify-{older}" disabled', html)
        assert not re.search(rf'id="verify-{newer}" disabled', html)
        assert "(2)" in html  # two assessments in the history
        r = await b.post(f"/verifikasi/{newer}", data={"csrf_token": csrf_of(html), "decision": "VERIFIED"})
        assert r.status_code == 303
        after = (await b.get("/verifikasi")).text
        assert 'id="flash"' in after and '<strong id="queue-total">1</strong>' in after
        assert '<strong id="count-VERIFIED">1</strong>' in after
        no_reason = await b.post(f"/verifikasi/{older}", data={"csrf_token": csrf_of(after), "decision": "RETURNED"})
        assert "Alasan wajib diisi" in (await b.get(no_reason.headers["location"])).text
        page = (await b.get("/verifikasi")).text
        sent = await b.post(
            f"/verifikasi/{older}",
            data={"csrf_token": csrf_of(page), "decision": "RETURNED", "reason": "foto timbangan tidak terbaca"},
        )
        assert sent.status_code == 303
        last = (await b.get("/verifikasi")).text
        assert 'id="queue-empty"' in last and '<strong id="count-RETURNED">1</strong>' in last


async def test_a_key_without_posyandu_verify_sees_why_the_buttons_are_disabled(registry_console: Any) -> None:
    pid = await _assessed(registry_console, "Posyandu Melati", sk=True, on="2026-11-20")
    async with registry_console.signed_in("reader") as b:
        html = (await b.get("/verifikasi")).text
        assert 'id="no-verify-scope"' in html and "posyandu:verify" in html
        assert re.search(rf'id="verify-{pid}" disabled', html)
        r = await b.post(f"/verifikasi/{pid}", data={"csrf_token": csrf_of(html), "decision": "VERIFIED"})
        assert "posyandu:verify" in (await b.get(r.headers["location"])).text


def test_gaps_in_the_readers_language() -> None:
    item = {"missing": [{"code": "no_sk", "message_id": "belum ada SK", "message_en": "no SK", "blocking": True}]}
    assert [g.message for g in gaps(item, "id")] == ["belum ada SK"]
    assert [g.message for g in gaps(item, "en")] == ["no SK"]
    assert [g.code for g in gaps({"institution": {}}, "id")] == ["no_sk"]
    assert gaps({"institution": {"sk_number": "1"}}, "id") == []
    assert decision_problem("REJECTED", " ") == "reason_required" and decision_problem("VERIFIED", "") is None
