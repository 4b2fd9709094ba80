"""Kader against the four real services: search (masked unless registry:pii), a cadre's page
(assignments, trainings, badges, certificates with their PDF through the console,
eligibility this month with reasons in Indonesian), and the CSV import with its progress and
per-row report."""

from __future__ import annotations

import re
from typing import Any

from console.domain.cadres import import_progress, progress_json, reasons, valid_certificate_number
from sikader_shared.testing.checks import eventually
from tests.console.conftest import csrf_of
from tests.console.story import cadre, certified, verified_posyandu


async def test_search_and_a_cadres_page(stack_console: Any) -> None:
    pid = await verified_posyandu(stack_console)
    cid = await cadre(stack_console, pid)
    number = await certified(stack_console, cid)
    async with stack_console.signed_in("officer") as b:
        found = await b.get("/kader", params={"name": "Rahmawati"})
        assert found.status_code == 200, found.text[:2000]
        assert f'href="/kader/{cid}"' in found.text and 'id="masked-note"' in found.text
        assert "Posyandu Kenanga" in found.text
        assert "647106" not in found.text  # the NIK is masked for a key without registry:pii
        by_posyandu = await b.get("/kader", params={"kelurahan_code": "64.71.06.1002", "posyandu_id": pid})
        assert f'href="/kader/{cid}"' in by_posyandu.text and f'<option value="{pid}" selected>' in by_posyandu.text
        none = await b.get("/kader", params={"status": "inactive"})
        assert f'href="/kader/{cid}"' not in none.text

        async def page_with_eligibility() -> str | None:
            html = (await b.get(f"/kader/{cid}")).text
            return html if 'id="eligibility"' in html else None

        html = await eventually(page_with_eligibility, "incentives to decide the cadre", timeout=30)
        assert html is not None and "Posyandu Kenanga" in html and number in html and "Purwa" in html
        assert re.search(r'<ul id="reasons">\s*<li data-rule=', html)
        pdf = await b.get(f"/kader/sertifikat/{number}.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert (await b.get("/kader/sertifikat/..%2F..%2Fadmin.pdf")).status_code == 404
    async with stack_console.signed_in("pii_officer") as b:
        html = (await b.get("/kader", params={"name": "Rahmawati"})).text
        assert "647106" in html and 'id="masked-note"' not in html
        detail = (await b.get(f"/kader/{cid}")).text
        assert "incentives:read" in detail  # the eligibility part refused, the rest shown
        assert number in detail


async def test_csv_import_through_the_page(stack_console: Any) -> None:
    await verified_posyandu(stack_console, "Posyandu Melati")
    csv = (
        "nik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,roles\n"
        "6471065508900001,Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,Posyandu Melati,posyandu_cadre\n"
        "6471061508900002,Nur Aini,P,1990-08-15,0812-3456-7891,64.71.06.1002,Posyandu Melati,posyandu_cadre\n"
    )
    async with stack_console.signed_in("officer") as b:
        form = await b.get("/kader/impor")
        assert form.status_code == 200 and 'id="import-file"' in form.text
        r = await b.post(
            "/kader/impor",
            data={"csrf_token": csrf_of(form.text), "kind": "cadres"},
            files={"file": ("kader.csv", csv.encode(), "text/csv")},
        )
        assert r.status_code == 303, r.text[:1000]
        job_url = r.headers["location"]

        async def done() -> dict[str, Any] | None:
            status = (await b.get(job_url + ".json")).json()
            return status if status["finished"] else None

        status = await eventually(done, "the import to finish", timeout=30)
        assert status is not None and status["percent"] == 100
        page = (await b.get(job_url)).text
        assert '<strong id="import-registered">1</strong>' in page and '<strong id="import-rejected">1</strong>' in page
        assert 'id="import-errors"' in page and "import-progress.js" not in page
    async with stack_console.signed_in("reader") as b:
        assert 'id="import-start" disabled' in (await b.get("/kader/impor")).text


def test_cadre_view_rules() -> None:
    e = {"reasons": [{"rule": "certificate_valid", "passed": True, "text_id": "sertifikat sah", "text_en": "valid"}]}
    assert reasons(e, "id")[0].text == "sertifikat sah" and reasons(e, "en")[0].text == "valid"
    assert valid_certificate_number("SKD/6471/2026/MADYA/000123")
    for bad in ("../x", "a//b", "", "/abs", "a b"):
        assert not valid_certificate_number(bad)
    running = import_progress({"id": "j", "status": "running", "rows_total": 4, "rows_done": 1, "percent": 25.0})
    assert progress_json(running) == {
        "status": "running",
        "rows_total": 4,
        "rows_done": 1,
        "percent": 25.0,
        "finished": False,
    }
    assert import_progress({"status": "done", "percent": 180, "report": {"errors": [{"line": 2}]}}).errors == [
        {"line": 2}
    ]
