"""A guided walkthrough against a running `make run` (see README): one Posyandu from
"meets in a resident's house, unverified" to verified, one cadre from registered to certified
to eligible, the month from open to paid and closed, and where each event and message shows.

    .venv/bin/python scripts/walkthrough.py            # uses var/admin.key and ports 8001-8004
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx

from sikader_shared import topics
from sikader_shared.clock import WITA
from sikader_shared.testing.kafka import headers_of, read_topic

ROOT = Path(__file__).resolve().parent.parent
VAR = Path(os.environ.get("SIKADER_VAR_DIR", ROOT / "var"))
PORTS = {s: int(os.environ.get(f"SIKADER_{s.upper()}_HTTP_PORT", p)) for s, p in
         {"registry": 8001, "certification": 8002, "incentives": 8003, "notifications": 8004}.items()}  # fmt: skip
BOOTSTRAP = os.environ.get(
    "KAFKA_BOOTSTRAP_SERVERS", f"127.0.0.1:{os.environ.get('SIKADER_LOCAL_BROKER_PORT', '9092')}"
)
MAIL = f"http://127.0.0.1:{os.environ.get('SIKADER_DEV_MAIL_HTTP_PORT', '8025')}/"


def say(step: str) -> None:
    print(f"\n== {step}", flush=True)


def show(label: str, value: Any) -> None:
    print(f"   {label}: {value}", flush=True)


def url(service: str) -> str:
    return f"http://127.0.0.1:{PORTS[service]}"


def ok(r: httpx.Response, *codes: int) -> dict[str, Any]:
    if r.status_code not in (codes or (200, 201)):
        raise SystemExit(f"{r.request.method} {r.request.url} -> {r.status_code}: {r.text}")
    body: dict[str, Any] = r.json()
    return body


def issue_key(client: str, scopes: str) -> str:
    """An OPD key through the operator CLI (what an operator does)."""
    out = subprocess.run(
        [sys.executable, "-m", "registry.entrypoints.cli", "keys", "issue", "--client", client, "--scopes", scopes],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return str(json.loads(out.stdout)["key"])


def nik(birth: date, female: bool, serial: int) -> str:
    day = birth.day + (40 if female else 0)
    return f"647106{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


async def until(check: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what}")


async def main() -> None:
    admin = (VAR / "admin.key").read_text().strip()
    h = {"Authorization": f"Bearer {admin}"}
    reg = httpx.AsyncClient(base_url=url("registry"), headers=h, timeout=30)
    cert = httpx.AsyncClient(base_url=url("certification"), headers=h, timeout=30)
    inc = httpx.AsyncClient(base_url=url("incentives"), headers=h, timeout=30)
    today = datetime.now(WITA).date()
    stamp = int(time.time()) % 10_000

    say("1. A Posyandu that meets in a resident's house (registry, :8001)")
    p = ok(await reg.post("/posyandu", json={
        "name": f"Posyandu Kenanga {stamp}", "kelurahan_code": "64.71.06.1002", "posyandu_type": "balita",
        "rt": "007", "puskesmas": "Puskesmas Klandasan Ilir",
        "institution": {"sk_number": "188.4/31/KLI/2025", "sk_date": "2025-02-03"},
    }))  # fmt: skip
    pid = p["id"]
    ok(await reg.post(f"/posyandu/{pid}/assessments", json={
        "facility_status": "resident_house", "assessed_by": "Puskesmas Klandasan Ilir", "assessed_on": today.isoformat(),
        "equipment": [{"item": "dacin", "available": True, "functional": True}],
    }))  # fmt: skip
    p = ok(await reg.get(f"/posyandu/{pid}"))
    show("posyandu", f"{p['name']} ({pid})")
    show("facility / verification", f"{p['facility_status']} / {p['verification_status']}")

    say("2. It moves to the balai RT, is re-assessed and verified by Dinkes (posyandu:verify)")
    ok(await reg.post(f"/posyandu/{pid}/assessments", json={
        "facility_status": "public_building", "assessed_by": "Puskesmas Klandasan Ilir",
        "assessed_on": today.isoformat(), "equipment": [{"item": "dacin", "available": True, "functional": True}],
    }))  # fmt: skip
    ok(await reg.post(f"/posyandu/{pid}/verification", json={"decision": "VERIFIED", "note": "checked on site"}))
    p = ok(await reg.get(f"/posyandu/{pid}"))
    show("facility / verification", f"{p['facility_status']} / {p['verification_status']}")

    say("3. A cadre registered there (NIK checked against birth date and sex; phone -> +62)")
    birth = date(1991, 4, 12)
    c = ok(await reg.post("/cadres", json={
        "nik": nik(birth, True, stamp), "name": "Rahmawati Said", "sex": "F", "birth_date": birth.isoformat(),
        "phone": "0812-5555-0101", "email": "rahmawati@contoh.example", "roles": ["posyandu_cadre"],
        "posyandu_id": pid, "posyandu_role": "core", "joined_on": "2018-06-01",
        "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": f"00{stamp:04d}5678"},
    }))  # fmt: skip
    cid = c["id"]
    show("cadre", f"{c['name']} ({cid}), status {c['status']}")
    show("NIK", f"{c.get('nik')} (unmasked: the admin key has registry:pii, and this read is in the PII read log)")

    say("4. Certification learns of the cadre from the registry's events, then the Puskesmas assesses")
    await until(lambda: _status(cert, f"/cadres/{cid}"), "the certification service to know the cadre")
    results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
    a = ok(await cert.post("/assessments", json={
        "cadre_id": cid, "assessor": "Puskesmas Klandasan Ilir", "assessed_on": today.isoformat(), "results": results,
    }))  # fmt: skip
    number = a["certificate"]["number"]
    show("level", a["level"])
    show("certificate", number)
    show("public verification (no key)", f"{url('certification')}/certificates/{number}/verify")
    show("printable", f"{url('certification')}/certificates/{number}.pdf")

    say("5. Incentives decides eligibility from the events alone (reasons in Indonesian and English)")
    period = today.strftime("%Y-%m")

    async def eligible() -> dict[str, Any] | None:
        r = await inc.get(f"/eligibility/{cid}", params={"period": period})
        return r.json() if r.status_code == 200 and r.json().get("eligible") else None

    e = await until(eligible, "the cadre to become eligible")
    show("eligible / amount", f"{e['eligible']} / Rp {e['amount']:,}")
    for reason in e.get("reasons", []):
        show(
            f"  {reason.get('rule')}",
            f"{'ok' if reason.get('passed') else 'FAILED'} - {reason.get('text_id') or reason.get('fact')}",
        )

    say(f"6. The month {period}: calculate -> approve (another OPD) -> payment file -> bank results -> close")
    state = ok(await inc.get(f"/periods/{period}"), 200, 404).get("state", "open")
    if state in ("approved", "paid", "closed"):
        show("period", f"already {state}: a month is approved once; run `make run` on a fresh var/ to see it again")
    else:
        calc = ok(await inc.post(f"/periods/{period}/calculate"))
        show(
            "calculated",
            f"{calc['eligible_cadres']} eligible, Rp {calc['total_amount']:,}, hash {calc['decision_hash'][:16]}...",
        )
        approver = {"Authorization": f"Bearer {issue_key('dprd-komisi-iv', 'incentives:approve,incentives:read')}"}
        await asyncio.sleep(2)  # the new key travels on sikader.auth.v1
        same = await inc.post(f"/periods/{period}/approve", json={"decision_hash": calc["decision_hash"]})
        show("approval by the calculating client", f"{same.status_code} {same.json().get('detail')}")
        approved = ok(await inc.post(f"/periods/{period}/approve", headers=approver,
                                     json={"decision_hash": calc["decision_hash"]}))  # fmt: skip
        show("approved by", approved["approved_by"])
        batch = ok(await inc.post(f"/periods/{period}/payment-batches"))
        lines = (await inc.get(batch["file"])).text.splitlines()
        show(
            "payment file", f"{batch['lines']} lines, Rp {batch['total_amount']:,} ({url('incentives')}{batch['file']})"
        )
        results = "reference,result,failure_reason,paid_on\n" + "".join(
            f"{line.split(',')[0]},paid,,{today.isoformat()}\n" for line in lines[1:]
        )
        paid = ok(await inc.post(f"/periods/{period}/payment-batches/{batch['batch_id']}/results", content=results,
                                 headers={"content-type": "text/csv"}))  # fmt: skip
        show("bank results", f"{paid['paid']} paid, {paid['failed']} failed, period {paid['state']}")
        if paid["state"] == "paid":
            closed = ok(await inc.post(f"/periods/{period}/close"))
            show("period", closed["state"])

    say("7. Where to look")
    counts: Counter[str] = Counter()
    for topic in (topics.POSYANDU, topics.CADRE, topics.CERTIFICATION, topics.INCENTIVES, topics.NOTIFICATIONS):
        for record in await read_topic(BOOTSTRAP, topic):
            if record.key in (pid.encode(), cid.encode(), period.encode()):
                counts[headers_of(record)["ce_type"]] += 1
    for ce_type, n in sorted(counts.items()):
        show(ce_type, n)
    show("mail and SMS/WhatsApp received", MAIL)
    show("event docs per service", f"{url('registry')}/asyncapi (and :8002, :8003, :8004)")
    show("audit trail of the cadre", f"{url('registry')}/audit?entity_type=cadre&entity_id={cid} (audit:read)")
    for client in (reg, cert, inc):
        await client.aclose()


async def _status(client: httpx.AsyncClient, path: str) -> bool:
    return (await client.get(path)).status_code == 200


if __name__ == "__main__":
    asyncio.run(main())
