"""Siaran against the four real services: compose by area and role, preview with the cadres
it reaches, send, follow it to its tally."""

from __future__ import annotations

import re
from typing import Any

from console.domain.broadcasts import Draft, area_filters, broadcast_json, broadcast_view, draft_problems
from notifications.adapters.tables import CadreRow, ContactRow
from sikader_shared.testing.checks import eventually
from tests.console.conftest import csrf_of
from tests.console.story import cadre, verified_posyandu


async def test_compose_preview_send_and_follow(stack_console: Any) -> None:
    pid = await verified_posyandu(stack_console)
    first = await cadre(stack_console, pid)
    second = await cadre(stack_console, pid, "Nur Aini", serial=2)
    runtime = stack_console.services["notifications"].runtime

    async def known() -> bool:  # notifications learns cadres (and contacts) from the registry's events
        async with runtime.sessions() as s:
            return await s.get(ContactRow, first) is not None and await s.get(CadreRow, second) is not None

    await eventually(known, "notifications to know the cadres", timeout=30)
    async with stack_console.signed_in("officer") as b:
        page = await b.get("/siaran")
        assert page.status_code == 200 and 'id="compose-form"' in page.text and "Balikpapan Kota" in page.text
        empty = await b.post("/siaran/pratinjau", data={"csrf_token": csrf_of(page.text), "title": "", "message": ""})
        assert empty.status_code == 422 and "Isi judul" in empty.text and "Pilih setidaknya satu saluran" in empty.text
        form = {
            "csrf_token": csrf_of(page.text),
            "title": "Sekolah Rakyat: beasiswa penuh",
            "message": "Sekolah Rakyat adalah program beasiswa penuh.",
            "channels": ["whatsapp", "email"],
            "kecamatan_codes": ["64.71.06"],
            "roles": ["posyandu_cadre"],
        }
        preview = await b.post("/siaran/pratinjau", data=form)
        assert preview.status_code == 200, preview.text[:2000]
        assert '<dd id="reach">2</dd>' in preview.text and "Balikpapan Kota" in preview.text
        hidden = dict(re.findall(r'<input type="hidden" name="(title|message)" value="([^"]*)">', preview.text))
        assert hidden["title"] == "Sekolah Rakyat: beasiswa penuh"
        sent = await b.post("/siaran/kirim", data={**form, "csrf_token": csrf_of(preview.text)})
        assert sent.status_code == 303, sent.text[:1000]
        where = sent.headers["location"]

        async def finished() -> dict[str, Any] | None:
            status = (await b.get(where + ".json")).json()
            return status if status["finished"] else None

        await eventually(finished, "the broadcast to finish", timeout=60)
        html = (await b.get(where)).text
        assert (
            'id="broadcast-finished"' in html and '<strong id="recipients">2</strong>' in html and 'id="tally"' in html
        )
        assert "poll.js" not in html
        assert "Sekolah Rakyat" in (await b.get("/siaran")).text
    async with stack_console.signed_in("reader") as b:
        assert 'id="preview" disabled' in (await b.get("/siaran")).text


def test_broadcast_rules() -> None:
    assert draft_problems(Draft("", " ", [])) == ["need_title", "need_message", "need_channel"]
    assert draft_problems(Draft("a", "b", ["pigeon"])) == ["need_channel"]
    d = Draft("a", "b", ["sms"], kecamatan_codes=["64.71.06", "64.71.01"], kelurahan_codes=["64.71.06.1002"])
    assert area_filters(d) == [{"kelurahan_code": "64.71.06.1002"}, {"kecamatan_code": "64.71.01"}]
    assert area_filters(Draft("a", "b", ["sms"])) == [{}]
    v = broadcast_view({"status": "sending", "progress": {"pending": 3, "delivered": 1}})
    assert (v.done, v.total, v.percent, v.finished) == (1, 4, 25.0, False)
    assert broadcast_json(broadcast_view({"status": "completed", "progress": {}}))["percent"] == 100.0
