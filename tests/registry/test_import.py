"""Bulk import of cadres and Posyandu from CSV: per-row errors, nothing registered twice,
a malformed file changes nothing; the chunked CLI upload; the demo data loader."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from registry.adapters.tables import CadreRow, FacilityAssessmentRow, PosyanduRow
from registry.entrypoints.demo import load_demo
from sikader_shared import topics
from sikader_shared.db import OutboxRecord
from sikader_shared.testing.kafka import headers_of, read_topic, wait_for
from tests.registry.conftest import Registry, make_nik

pytestmark = pytest.mark.integration

POSYANDU_CSV = (
    "name,kelurahan_code,posyandu_type,rt,sk_number,sk_date,facility_status,equipment,assessed_by,assessed_on\n"
    "Posyandu Melati,64.71.06.1002,balita,012,188.4/12,2024-07-01,resident_house,dacin;kia_book,Puskesmas KI,"
    "2026-11-02\n"
    "Posyandu Mawar,64.71.06.1002,lansia,,,,,,,\n"
    "Posyandu Anggrek,64.71.99.1001,balita,,,,,,,\n"
    "posyandu MELATI,64.71.06.1002,balita,,,,,,,\n"
)


def cadre_csv(rows: list[str]) -> bytes:
    header = "nik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,roles,payment_method,bank,account_number\n"
    return (header + "".join(r + "\n" for r in rows)).encode()


async def test_csv_import_reports_rows_registers_once_and_refuses_malformed_files(registry: Registry) -> None:
    bootstrap = registry.runtime.settings.kafka_bootstrap_servers
    async with registry.client("writer") as w:
        r = await w.post("/posyandu/import", content=POSYANDU_CSV, headers={"Content-Type": "text/csv"})
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["rows"], report["registered"], report["rejected"]) == (4, 2, 2)
        assert {(e["line"], e["field"]) for e in report["errors"]} == {(4, "kelurahan_code"), (5, "name")}
        again = (await w.post("/posyandu/import", content=POSYANDU_CSV, headers={"Content-Type": "text/csv"})).json()
        assert (again["registered"], again["already_registered"]) == (0, 2)
        assert {e["posyandu_id"] for e in again["existing"]} == {x["posyandu_id"] for x in report["registered_ids"]}
        assert await registry.count(PosyanduRow) == 2 and await registry.count(FacilityAssessmentRow) == 1
        melati = (await w.get("/posyandu", params={"name": "melati"})).json()["items"][0]
        assert melati["facility_status"] == "resident_house" and melati["institution"]["sk_number"] == "188.4/12"

        good = [
            f"{make_nik(date(1990, 8, 15), 'F', serial=1)},Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,"
            "Melati,posyandu_cadre;pkk,bank,BPD,0012345678",
            f"{make_nik(date(1985, 2, 15), 'M', serial=2)},Budi,L,1985-02-15,,64.71.06.1002,,social_worker,,,",
            f"{make_nik(date(1970, 3, 1), 'F', serial=3)},Ani,P,1970-03-01,081299998888,64.71.06.1002,Mawar,,,,",
        ]
        bad = [
            f"{make_nik(date(1990, 8, 15), 'F', serial=4)},Wrong Date,P,1990-08-16,,64.71.06.1002,,,,,",
            f"{make_nik(date(1990, 8, 15), 'F', serial=5)},Wrong Sex,L,1990-08-15,,64.71.06.1002,,,,,",
            f"{make_nik(date(1990, 8, 15), 'F', serial=6)},Bad Phone,P,1990-08-15,12,64.71.06.1002,,,,,",
            f"{make_nik(date(1990, 8, 15), 'F', serial=7)},No Kel,P,1990-08-15,,64.71.09.1001,,,,,",
            f"{make_nik(date(1990, 8, 15), 'F', serial=8)},No Posyandu,P,1990-08-15,,64.71.06.1002,Dahlia,,,,",
            f"{make_nik(date(1990, 8, 15), 'F', serial=1)},Twice In File,P,1990-08-15,,64.71.06.1002,,,,,",
            "3171015508900009,Jakarta,P,1990-08-15,,64.71.06.1002,,,,,",
        ]
        raw = cadre_csv(good + bad)
        r = await w.post("/cadres/import", content=raw, headers={"Content-Type": "text/csv; charset=utf-8"})
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["rows"], report["registered"], report["already_registered"], report["rejected"]) == (10, 3, 0, 7)
        assert [(e["line"], e["field"]) for e in report["errors"]] == [
            (5, "nik"), (6, "nik"), (7, "phone"), (8, "kelurahan_code"), (9, "posyandu_name"), (10, "nik"), (11, "nik")
        ]  # fmt: skip
        assert "line 2" in report["errors"][5]["reason"]
        siti_id = report["registered_ids"][0]["cadre_id"]
        siti = (await w.get(f"/cadres/{siti_id}")).json()
        assert siti["posyandu_id"] == melati["id"] and siti["phone"] == "+62*********90"

        # Re-upload (plus one new row): only the new row is registered.
        more = f"{make_nik(date(2000, 12, 31), 'F', serial=9)},Dewi,P,2000-12-31,,64.71.06.1002,,,,,"
        again = (
            await w.post("/cadres/import", content=cadre_csv([*good, more]), headers={"Content-Type": "text/csv"})
        ).json()
        assert (again["registered"], again["already_registered"], again["rejected"]) == (1, 3, 0)
        assert again["existing"][0] == {"line": 2, "cadre_id": siti_id}
        assert await registry.count(CadreRow) == 4

        # Not a CSV of the documented columns: 4xx and nothing changes.
        outbox = await registry.count(OutboxRecord)
        refusals = [
            await w.post("/cadres/import", content=b"name,sex\nSiti,P\n", headers={"Content-Type": "text/csv"}),
            await w.post("/cadres/import", content=b"", headers={"Content-Type": "text/csv"}),
            await w.post("/cadres/import", content=b"\xff\xfe\x00\x00", headers={"Content-Type": "text/csv"}),
            await w.post(
                "/cadres/import",
                content=cadre_csv([more.replace("Dewi", "Dewi2").replace("0009", "0010"), '"unterminated']),
                headers={"Content-Type": "text/csv"},
            ),
            await w.post("/posyandu/import", content=b"nama,kelurahan\nx,y\n", headers={"Content-Type": "text/csv"}),
        ]
        assert [x.status_code for x in refusals] == [422] * 5
        assert refusals[0].json()["missing_columns"] == ["nik", "birth_date"]
        wrong_type = await w.post("/cadres/import", json={"nik": "1"})
        assert wrong_type.status_code == 415
        assert await registry.count(CadreRow) == 4 and await registry.count(OutboxRecord) == outbox
    async with registry.client("reader") as c:
        assert (await c.post("/cadres/import", content=raw, headers={"Content-Type": "text/csv"})).status_code == 403

    # One CadreRegistered per cadre, contact/payment only on the private topic.
    registered = await wait_for(
        bootstrap, topics.CADRE, lambda m: headers_of(m)["ce_type"] == "sikader.registry.CadreRegistered.v1", count=4
    )
    assert len(registered) == 4 and headers_of(registered[0])["ce_actor"] == "dinsos"
    private = await read_topic(bootstrap, topics.CADRE_PRIVATE)
    kinds = sorted(headers_of(m)["ce_type"].split(".")[2] for m in private)
    assert kinds == ["CadreContactChanged", "CadreContactChanged", "CadrePaymentDetailsChanged"]
    posyandu_events = await read_topic(bootstrap, topics.POSYANDU)
    assert sorted(headers_of(m)["ce_type"].split(".")[2] for m in posyandu_events) == [
        "PosyanduFacilityAssessed", "PosyanduRegistered", "PosyanduRegistered"
    ]  # fmt: skip


async def test_cli_uploads_in_chunks_with_progress(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "kader.csv"
    rows = [
        f"{make_nik(date(1980 + i % 20, 1 + i % 12, 1 + i % 28), 'F', serial=i + 1)},Kader {i},P,"
        f"{1980 + i % 20}-{1 + i % 12:02d}-{1 + i % 28:02d},,64.71.02.1002,,,,,"
        for i in range(25)
    ]
    rows.append("1234,Broken,P,1990-01-01,,64.71.02.1002,,,,,")
    path.write_bytes(cadre_csv(rows))
    env = {**os.environ, "SIKADER_API_KEY": registry.keys["writer"]}
    cmd = [sys.executable, "-m", "registry.entrypoints.import_cli", "cadres", str(path), "--url", registry.service.url,
           "--chunk-rows", "10"]  # fmt: skip
    out = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
    assert out.returncode == 1, out.stderr  # one row rejected
    report = json.loads(out.stdout)
    assert (report["rows"], report["registered"], report["rejected"]) == (26, 25, 1)
    assert report["errors"][0]["line"] == 27 and report["errors"][0]["field"] == "nik"
    assert "26/26 rows" in out.stderr and "#" in out.stderr
    again = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
    assert json.loads(again.stdout) == report  # the chunks' Idempotency-Keys replay the first answers
    assert await registry.count(CadreRow) == 25
    path.write_bytes(b'nik,name,sex,birth_date\n"unterminated,x,P,1990-01-01\n')
    broken = await asyncio.to_thread(subprocess.run, cmd, env=env, capture_output=True, text=True)
    assert broken.returncode == 2 and "well-formed" in broken.stderr


async def test_demo_data_covers_every_kelurahan(registry: Registry) -> None:
    async with registry.client("admin") as admin:
        demo = await load_demo(admin)
        stats = (await admin.get("/statistics/mapping")).json()
        again = await load_demo(admin)  # deterministic: the same ids, nothing registered twice
    assert again["posyandu_ids"] == demo["posyandu_ids"] and again["cadre_ids"] == demo["cadre_ids"]
    assert 250 <= len(demo["cadre_ids"]) <= 400 and await registry.count(CadreRow) == len(demo["cadre_ids"])
    assert len(set(demo["kelurahan_by_posyandu"].values())) == 34
    assert all(len(c) >= 2 for c in demo["cadre_ids_by_posyandu"].values())
    assert demo["verified_posyandu_ids"] and set(demo["verified_posyandu_ids"]) <= set(demo["posyandu_ids"])
    assert all(k["posyandu"] >= 2 for kec in stats["kecamatan"] for k in kec["kelurahan"])
    facilities = stats["by_facility_status"]
    assert facilities["resident_house"] == max(facilities.values())  # most meet in a resident's house
    assert stats["by_verification_status"]["VERIFIED"] == len(demo["verified_posyandu_ids"])
    assert stats["active_cadres"] == len(demo["active_cadre_ids"])
