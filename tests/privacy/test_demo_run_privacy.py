"""Issue 9, item 4: privacy over a whole demo run (CONTRACT.md "Privacy", UU 27/2022).

The four services run as separate processes (each writing its JSON log to a file), with the
keys handed out as `make run` does (registry: both; notifications: contact; incentives:
payment; certification: none), the development SMTP catcher as a process too, and a
WhatsApp gateway that answers 404 (the delivery failure path). The Balikpapan demo data is
loaded through the public APIs by the loaders scripts/demo_data.py runs (certification for a
slice of the cadres, to keep the run short); then the walkthrough's story with
personal data on purpose: a cadre registered with NIK, phone, email, address and a bank
account held in another person's name, her contact and payment details changed (a new
+62 number, an e-wallet), a search by NIK, refused registrations and a refused import (bad
NIK, phone, email: the answers must not echo them), a NIK pasted into a URL, the month
approved by another OPD and paid, with a bank result whose reason quotes the account, a
registration the database refuses after validation (a 500 whose traceback is logged), and
malformed events carrying a NIK, a phone and an email that the consumers dead-letter.

Then every message of every topic on the broker (the contract topics, the DLQs, the auth
and epoch topics, and whatever else the broker lists but its own `__` topics), headers and body, and every line of
every service's log and the catcher's log are searched for every NIK, phone, email, address,
account number and account holder of the run (from the registry's own unmasked records,
plus the earlier values), and the run's API keys, in their usual variants (tests/privacy/
scan.py), and for anything that merely looks like a
NIK, an Indonesian mobile number, an email address or a street address.

Decisions:
- sikader.registry.cadre-private.v1 may carry contact and payment values only inside its
  `*_enc` fields, each `<key id>:<Fernet token>` that decrypts with the right key (contact
  key: phone, email, address; payment key: bank, account number, holder) and not with the
  other, to the registry's value. No other field or header of that topic carries them.
- The DLQ topics keep the failed message unchanged (CONTRACT.md "Consumers"): the malformed
  events' own values may appear in a DLQ record's body and original headers, and on the
  topic they were published to (by this test, as an intruder would). The `dlq_*` headers the
  services add, and every log, must not repeat them. A DLQ holds nothing but those
  messages: no demo event was dead-lettered.
- Mail and text messages to a cadre may hold what the cadre is told (her name, amounts) and
  go to her own address or number; their subject and text must not hold any NIK, account
  number or holder, nor another person's contact details.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import text

from certification.entrypoints.demo import load_demo as certification_demo
from incentives.entrypoints.demo import load_demo as incentives_demo
from registry.entrypoints.demo import load_demo as registry_demo
from sikader_shared import topics
from sikader_shared.clock import WITA
from sikader_shared.crypto import FieldCipher, FieldCipherError
from sikader_shared.db import make_engine
from sikader_shared.kafka import admin_for, list_topics
from sikader_shared.testing import checks
from sikader_shared.testing.broker import free_port, tcp_answers
from sikader_shared.testing.checks import ok
from sikader_shared.testing.devsmtp import MailStore
from sikader_shared.testing.kafka import publish_raw
from sikader_shared.testing.services import issue_key_with_cli
from tests.conftest import CONTACT_KEY, PAYMENT_KEY, subprocess_env
from tests.privacy.scan import KnownValues, national_number, pattern_hits

# ~1 min on a quiet machine, 2-4 under load; the limit leaves room for a very loaded one.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(480)]

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("registry", "certification", "incentives", "notifications")
WAIT = 150.0
CERTIFIED_SLICE = 40  # active demo cadres offered to the certification demo (it assesses half)
DRAIN = 200.0  # for the consumers to catch up after the story: notifications trails (~25 events/s loaded)
OPD_INBOX = "kader@dinkes.example"  # an agency mailbox from configuration, not a person's
INTRUDER = "intruder"

# The story's cadre: values chosen so that nothing else in a run could contain them.
BIRTH = date(1991, 4, 12)
HOLDER = "Muhammad Ridwan Hakim"  # the account is her husband's: a name no topic may carry
FIRST = {
    "phone": "0812-5555-0101",
    "email": "rahmawati.said@contoh.example",
    "address": "Jl. Kenanga Putih RT 007, Klandasan Ilir",
    "account_number": "0071234568",
}
SECOND = {
    "phone": "+62 853-4444-7788",
    "email": "Rahma.Baru@Contoh.example",
    "address": "Jl. Flamboyan Indah RT 021, Gunung Samarinda",
    "account_number": "081399887766",  # an e-wallet: its number is a phone number
}
# What the malformed events carry (see `inject_malformed`).
INTRUDER_NIK = "6471014507880003"
INTRUDER_PHONE = "0821-7777-0199"
INTRUDER_EMAIL = "penyusup@contoh.example"


def nik(birth: date, female: bool, serial: int) -> str:
    day = birth.day + (40 if female else 0)
    return f"647106{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


eventually = partial(checks.eventually, timeout=WAIT, interval=0.5)


def service_envs(broker: Any, databases: Any, tmp_path: Path, mail_smtp: int, mail_http: int) -> dict[str, Any]:
    envs = {s: subprocess_env(s, broker, databases(s), tmp_path / s) for s in SERVICES}
    for s, env in envs.items():
        env["SIKADER_LOG_LEVEL"] = "INFO"
        # Only the services that must read a private field get its key (as scripts/run_local.py).
        if s not in ("registry", "notifications"):
            env.pop("SIKADER_CONTACT_KEY")
        if s not in ("registry", "incentives"):
            env.pop("SIKADER_PAYMENT_KEY")
    gateway = f"http://127.0.0.1:{mail_http}/gateway"
    envs["notifications"].update(
        {
            "SIKADER_NOTIFICATIONS_SMTP_HOST": "127.0.0.1",
            "SIKADER_NOTIFICATIONS_SMTP_PORT": str(mail_smtp),
            "SIKADER_NOTIFICATIONS_SMS_GATEWAY_URL": f"{gateway}/sms",
            "SIKADER_NOTIFICATIONS_WHATSAPP_GATEWAY_URL": f"{gateway}/wa-moved",  # 404: failed deliveries
            "SIKADER_NOTIFICATIONS_QUIET_HOURS_START": "00:00",
            "SIKADER_NOTIFICATIONS_QUIET_HOURS_END": "00:00",
            "SIKADER_NOTIFICATIONS_WORKER_POLL_S": "0.2",
            "SIKADER_NOTIFICATIONS_WORKER_CONCURRENCY": "4",  # spare the shared PostgreSQL's connections
            "SIKADER_NOTIFICATIONS_PUBLIC_BASE_URL": "http://sikader.test",
            "SIKADER_NOTIFICATIONS_OPD_INBOXES": json.dumps([{"id": "dinkes", "email": OPD_INBOX, "language": "en"}]),
        }
    )
    return envs


async def start_services(run_subprocess: Any, envs: dict[str, dict[str, str]]) -> dict[str, Any]:
    async def migrate(s: str) -> None:
        cmd = [sys.executable, "-m", f"{s}.entrypoints.cli", "migrate"]
        await asyncio.to_thread(subprocess.run, cmd, env={**os.environ, **envs[s]}, check=True)

    await asyncio.gather(*(migrate(s) for s in SERVICES))
    started = await asyncio.gather(*(run_subprocess(s, envs[s], migrate=False) for s in SERVICES))
    return dict(zip(SERVICES, started, strict=True))


# ------------------------------------------------------------------------------ the run


async def the_story(svc: dict[str, Any], admin: str, approver: str, values: KnownValues) -> dict[str, Any]:
    """The walkthrough's cadre and month, with personal data on purpose, and the error paths."""
    reg = svc["registry"].client(admin)
    inc = svc["incentives"].client(admin)
    out: dict[str, Any] = {"refusals": []}
    try:
        verified = ok(await reg.get("/posyandu", params={"verification_status": "VERIFIED", "page_size": 1}))
        pid = verified["items"][0]["id"]
        serial = 9000 + int(time.time()) % 999
        her_nik = nik(BIRTH, True, serial)
        cadre = {
            "nik": her_nik,
            "name": "Rahmawati Said",
            "sex": "F",
            "birth_date": BIRTH.isoformat(),
            "phone": FIRST["phone"],
            "email": FIRST["email"],
            "address": FIRST["address"],
            "roles": ["posyandu_cadre"],
            "posyandu_id": pid,
            "posyandu_role": "core",
            "joined_on": "2018-06-01",
            "payment": {
                "method": "bank",
                "bank": "BPD_KALTIMTARA",
                "account_number": FIRST["account_number"],
                "account_holder": HOLDER,
            },
        }
        cid = ok(await reg.post("/cadres", json=cadre), 201)["id"]
        out["cadre_id"] = cid
        for kind in ("phone", "email", "address", "account_number"):
            values.add(kind, FIRST[kind], cid)
        values.add("account_holder", HOLDER, cid)

        # Contact, then payment details change: both go out on the private topic only.
        ok(await reg.patch(f"/cadres/{cid}", json={k: SECOND[k] for k in ("phone", "email", "address")}))
        wallet = {"method": "e_wallet", "bank": "DANA", "account_number": SECOND["account_number"]}
        ok(await reg.patch(f"/cadres/{cid}", json={"payment": {**wallet, "account_holder": HOLDER}}))
        for kind in ("phone", "email", "address", "account_number"):
            values.add(kind, SECOND[kind], cid)

        # Looked up by NIK (in the body, as documented), and by NIK pasted into a URL.
        found = ok(await reg.post("/cadres/search", json={"nik": her_nik}))
        assert [c["id"] for c in found["items"]] == [cid]
        pasted = await reg.get(f"/cadres/{her_nik}")
        assert pasted.status_code in (404, 422), pasted.text
        out["refusals"].append(("GET /cadres/<NIK>", pasted, [her_nik]))

        # Refused registrations: the reason names the field, never the value.
        wrong_birth = {**cadre, "nik": nik(date(1990, 4, 12), True, serial + 1), "phone": "0813-2468-1357"}
        refusals = {
            "NIK contradicting the birth date": wrong_birth,
            "NIK of 15 digits": {**cadre, "nik": her_nik[:15]},
            "phone that is not Indonesian": {**cadre, "nik": nik(BIRTH, True, serial + 2), "phone": "+61 412 555 019"},
            "email without a domain": {**cadre, "nik": nik(BIRTH, True, serial + 3), "email": "rahmawati.said@"},
            "NIK already registered": cadre,
        }
        for what, body in refusals.items():
            r = await reg.post("/cadres", json=body)
            assert r.status_code in (409, 422), (what, r.status_code, r.text)
            assert r.json().get("detail"), (what, r.text)
            out["refusals"].append((what, r, [body["nik"], body["phone"], body["email"]]))
        values.add("nik", wrong_birth["nik"], "refused")
        values.add("phone", wrong_birth["phone"], "refused")
        values.add("phone", "+61 412 555 019", "refused")

        bad_rows = (
            "nik,name,sex,birth_date,phone,email,address,posyandu_id\n"
            f"6471064104919999,Sari Dewi,F,1990-01-01,0815-1212-3434,sari.dewi@contoh.example,"
            f"Jl. Melati Raya RT 003,{pid}\n"
            f"{nik(BIRTH, True, serial + 4)},Sari Dewi,F,{BIRTH},0815-12,sari.dewi@contoh.example,,{pid}\n"
            f"{nik(BIRTH, True, serial + 5)},Sari Dewi,F,{BIRTH},0815-1212-3434,sari.dewi(at)contoh,,{pid}\n"
        )
        r = await reg.post("/cadres/import", content=bad_rows, headers={"content-type": "text/csv"})
        assert r.status_code in (200, 422), r.text
        body = r.json()
        assert body.get("errors") and not body.get("registered_ids"), body
        out["refusals"].append(
            (
                "import with bad rows",
                r,
                ["6471064104919999", nik(BIRTH, True, serial + 4), "0815-1212-3434", "sari.dewi@contoh.example"],
            )
        )
        for v in ("6471064104919999", nik(BIRTH, True, serial + 4), nik(BIRTH, True, serial + 5)):
            values.add("nik", v, "refused")
        values.add("phone", "0815-1212-3434", "refused")
        values.add("email", "sari.dewi@contoh.example", "refused")
        values.add("address", "Jl. Melati Raya RT 003", "refused")

        # The month: recalculated, approved by another OPD, paid through a batch; the bank's
        # result file quotes the account of a failed payment (as bank return files do).
        period = datetime.now(WITA).strftime("%Y-%m")
        out["period"] = period

        async def approve() -> dict[str, Any] | None:
            calc = ok(await inc.post(f"/periods/{period}/calculate"))
            r = await inc.post(
                f"/periods/{period}/approve",
                headers={"Authorization": f"Bearer {approver}"},
                json={"decision_hash": calc["decision_hash"]},
            )
            return dict(r.json()) if r.status_code in (200, 201) else None  # 409: events arrived meanwhile

        approved = await eventually(approve, "the period approved", timeout=60)
        assert approved["state"] == "approved", approved
        batch = ok(await inc.post(f"/periods/{period}/payment-batches"), 201)
        file = await inc.get(batch["file"])
        assert file.status_code == 200, file.text
        lines = [line.split(",") for line in file.text.splitlines()]
        header, rows = lines[0], lines[1:]
        assert rows, "no payment lines"
        acct, holder = header.index("account_number"), header.index("account_holder")
        failed = rows[0]
        results = "reference,result,failure_reason,paid_on\n"
        results += f"{failed[0]},failed,Rekening {failed[acct]} a.n. {failed[holder] or 'Penerima'} sudah ditutup,\n"
        today = datetime.now(WITA).date().isoformat()
        results += "".join(f"{row[0]},paid,,{today}\n" for row in rows[1:])
        paid = ok(
            await inc.post(
                f"/periods/{period}/payment-batches/{batch['batch_id']}/results",
                content=results,
                headers={"content-type": "text/csv"},
            )
        )
        assert paid["failed"] == 1 and paid["paid"] == len(rows) - 1, paid
        out["payments"] = len(rows)
        out["failed_account"] = failed[acct]
    finally:
        await reg.aclose()
        await inc.aclose()
    return out


async def failed_write(registry: Any, admin: str, database_url: str, values: KnownValues) -> bool:
    """A write the database refuses after validation passed (a trigger stands in for an outage
    or a constraint nobody expected): the 500 is logged with its traceback, and the traceback
    must not carry the statement's parameters (the NIK, phone, email, address)."""
    if not database_url.startswith("postgres"):
        return False  # the stand-in is a PostgreSQL trigger
    engine = make_engine(database_url)
    refuse = (
        "CREATE FUNCTION privacy_probe() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'write refused by the database'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER privacy_probe BEFORE INSERT ON cadre FOR EACH ROW EXECUTE FUNCTION privacy_probe()",
    )
    try:
        async with engine.begin() as conn:
            for statement in refuse:
                await conn.execute(text(statement))
        body = {
            "nik": nik(BIRTH, True, 8001),
            "name": "Nurul Aini Baru",
            "sex": "F",
            "birth_date": BIRTH.isoformat(),
            "phone": "0852-1357-2468",
            "email": "nurul.aini@contoh.example",
            "address": "Jl. Soekarno-Hatta Km 5 RT 044, Batu Ampar",
            "kelurahan_code": "64.71.06.1002",
            "payment": {"method": "bank", "bank": "BRI", "account_number": "3456789012345"},
        }
        async with registry.client(admin) as reg:
            r = await reg.post("/cadres", json=body)
        assert r.status_code == 500, r.text
        for kind in ("nik", "phone", "email", "address"):
            values.add(kind, body[kind], "failed write")
        values.add("account_number", "3456789012345", "failed write")
        return True
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TRIGGER IF EXISTS privacy_probe ON cadre"))
            await conn.execute(text("DROP FUNCTION IF EXISTS privacy_probe()"))
        await engine.dispose()


def malformed_messages(cadre_id: str) -> list[tuple[str, bytes, bytes, dict[str, str]]]:
    """What an intruder (or a broken producer) might publish on the cadre topic: a body that
    is not JSON, a CadreRegistered that fails its schema, one with a NIK in a header the
    envelope check reads. Each carries a NIK, a phone number and an email address."""
    now = datetime.now(UTC).isoformat()

    def headers(ce_id: str, **over: str) -> dict[str, str]:
        return {
            "ce_specversion": "1.0",
            "ce_id": ce_id,
            "ce_source": "sikader/registry",
            "ce_type": "sikader.registry.CadreRegistered.v1",
            "ce_time": now,
            "ce_subject": cadre_id,
            "content-type": "application/json",
            "ce_actor": "intruder",
            **over,
        }

    not_json = f'{{"cadre_id": "{cadre_id}", "nik": "{INTRUDER_NIK}", "phone": "{INTRUDER_PHONE}", '.encode()
    bad_schema = json.dumps(
        {
            "cadre_id": cadre_id,
            "nik": INTRUDER_NIK,
            "name": int(INTRUDER_NIK),
            "phone": INTRUDER_PHONE,
            "email": INTRUDER_EMAIL,
            "kelurahan_code": INTRUDER_EMAIL,
        }
    ).encode()
    return [
        (topics.CADRE, cadre_id.encode(), not_json, headers(str(uuid.uuid4()))),
        (topics.CADRE, cadre_id.encode(), bad_schema, headers(str(uuid.uuid4()))),
    ]


# ------------------------------------------------------------------------------ reading back


Records = dict[str, list[ConsumerRecord[bytes, bytes]]]


async def read_everything(bootstrap: str) -> tuple[Records, dict[TopicPartition, int]]:
    """Every record of every topic the broker lists, from offset 0 to the high watermark of
    the fetch (the local broker's ListOffsets(latest) is wrong: see ../shared/notes/tansu.md).
    Returns the records by topic and the high watermark of each partition."""
    # Apache Kafka's own topics (__consumer_offsets: group names, topic names and offsets in a
    # binary format) hold nothing of ours; scanned as text their bytes look like anything.
    names = sorted(t for t in await list_topics(bootstrap) if not t.startswith("__"))
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: Records = {t: [] for t in names}
        pending = set(tps)
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300, max_records=10_000)
            for tp, records in batch.items():
                out[tp.topic].extend(records)
            for tp in list(pending):
                high = consumer.highwater(tp)
                if high is not None and await consumer.position(tp) >= high:
                    pending.discard(tp)
        assert not pending, f"could not read to the end of {sorted(map(str, pending))}"
        return out, {tp: consumer.highwater(tp) or 0 for tp in tps}
    finally:
        await consumer.stop()


async def unsettled(svc: dict[str, Any], bootstrap: str, highs: dict[TopicPartition, int]) -> list[str]:
    """What is still moving: outbox rows not yet published, consumer groups behind the end."""
    busy = []
    async with httpx.AsyncClient(timeout=5) as client:
        for name, s in svc.items():
            for line in (await client.get(f"{s.url}/metrics")).text.splitlines():
                if line.startswith("sikader_outbox_backlog") and float(line.split()[-1]):
                    busy.append(f"{name}: {line}")
    admin = admin_for(bootstrap)
    await admin.start()
    try:
        contract = [tp for tp in highs if tp.topic in topics.all_topic_names()]
        for name in svc:
            committed = await admin.list_consumer_group_offsets(f"sikader-{name}", partitions=contract)
            behind = sum(max(0, highs[tp] - meta.offset) for tp, meta in committed.items() if meta.offset >= 0)
            if behind:
                busy.append(f"{name}: {behind} records behind")
    finally:
        await admin.close()
    return busy


def headers_text(record: ConsumerRecord[bytes, bytes], prefix: str = "") -> str:
    key = (record.key or b"").decode("utf-8", "replace")
    pairs = (f"{k}: {(v or b'').decode('utf-8', 'replace')}" for k, v in record.headers if k.startswith(prefix))
    return "\n".join([f"key: {key}", *pairs])


def text_of(record: ConsumerRecord[bytes, bytes]) -> str:
    return headers_text(record) + "\n" + (record.value or b"").decode("utf-8", "replace")


def same_value(kind: str, a: str, b: str) -> bool:
    if kind in ("phone", "account_number"):
        return national_number(a) == national_number(b)
    return a.strip().lower() == b.strip().lower()


# ------------------------------------------------------------------------------ the test


async def test_no_personal_data_on_any_topic_or_in_any_log(
    broker: Any, databases: Any, run_subprocess: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    timings: dict[str, float] = {}
    mail_smtp, mail_http = free_port(), free_port()
    mail_log = tmp_path / "mail.log"
    with open(mail_log, "wb") as log:
        catcher = subprocess.Popen(
            [
                *(sys.executable, "-m", "sikader_shared.testing.devsmtp", "--smtp-port", str(mail_smtp)),
                *("--http-port", str(mail_http), "--dir", str(tmp_path / "mail")),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        envs = service_envs(broker, databases, tmp_path, mail_smtp, mail_http)
        svc = await start_services(run_subprocess, envs)
        assert tcp_answers("127.0.0.1", mail_smtp)
        timings["services started"] = time.monotonic() - started

        admin = issue_key_with_cli("registry", envs["registry"], "ops", "admin")
        approver = issue_key_with_cli(
            "registry", envs["registry"], "dprd-komisi-iv", "incentives:approve,incentives:read"
        )
        api_keys = (admin, approver)
        for s in SERVICES:
            for key in api_keys:

                async def known(s: str = s, key: str = key) -> bool:
                    async with svc[s].client(key) as c:
                        return (await c.get("/auth/whoami")).status_code == 200

                await eventually(known, f"a key known to {s}", timeout=60)

        # The demo data, by the loaders scripts/demo_data.py runs on the first `make run`: every
        # Posyandu and cadre of the registry's demo (the personal data), certification for a
        # slice of them (its ~20 events per cadre carry no personal data but cost the
        # notifications consumer minutes on a loaded machine), the month calculated.
        headers = {"Authorization": f"Bearer {admin}"}
        async with httpx.AsyncClient(base_url=svc["registry"].url, headers=headers, timeout=300) as c:
            registry = await registry_demo(c)
        async with httpx.AsyncClient(base_url=svc["certification"].url, headers=headers, timeout=300) as c:
            certification = await certification_demo(c, registry["active_cadre_ids"][:CERTIFIED_SLICE])
        period = datetime.now(WITA).strftime("%Y-%m")
        async with httpx.AsyncClient(base_url=svc["incentives"].url, headers=headers, timeout=300) as c:
            incentives = await incentives_demo(c, admin, period)
        demo_cadres = len(registry["cadre_ids"])
        assert demo_cadres >= 200 and len(registry["posyandu_ids"]) >= 68, demo_cadres
        assert sum(certification["certified"].values()) > 0 and incentives["eligible_cadres"], incentives
        timings["demo data"] = time.monotonic() - started

        values = KnownValues()
        story = await the_story(svc, admin, approver, values)
        timings["story"] = time.monotonic() - started
        refused = await failed_write(svc["registry"], admin, envs["registry"]["SIKADER_REGISTRY_DATABASE_URL"], values)
        intruder_msgs = malformed_messages(story["cadre_id"])
        await publish_raw(
            broker.bootstrap,
            topics.CADRE,
            [(k, v, [(n, x.encode()) for n, x in h.items()]) for _, k, v, h in intruder_msgs],
        )
        intruder_ids = {h["ce_id"] for *_, h in intruder_msgs}
        for kind, v in (("nik", INTRUDER_NIK), ("phone", INTRUDER_PHONE), ("email", INTRUDER_EMAIL)):
            values.add(kind, v, INTRUDER)

        # The ground truth: the registry's own unmasked records of every cadre and Posyandu.
        async with svc["registry"].client(admin) as reg:
            cadres: list[dict[str, Any]] = []
            for page in range(1, 100):
                got = ok(await reg.get("/cadres", params={"page": page, "page_size": 200}))
                cadres += got["items"]
                if len(cadres) >= got["total"]:
                    break
            posyandu: list[dict[str, Any]] = []
            for page in range(1, 100):
                got = ok(await reg.get("/posyandu", params={"page": page, "page_size": 500}))
                posyandu += got["items"]
                if len(posyandu) >= got["total"]:
                    break
        assert len(cadres) == demo_cadres + 1 and not any(c["pii_masked"] for c in cadres)
        for c in cadres:
            values.add("nik", c["nik"], c["id"])
            for kind in ("phone", "email", "address"):
                values.add(kind, c[kind], c["id"])
            if c["payment"]:
                values.add("account_number", c["payment"]["account_number"], c["id"])
                if c["payment"]["account_holder"] and c["payment"]["account_holder"] != c["name"]:
                    values.add("account_holder", c["payment"]["account_holder"], c["id"])
        for p in posyandu:
            values.add("address", p.get("address"), f"posyandu:{p['id']}")
        for key in api_keys:
            values.add("api_key", key, "ops")
        counts = Counter(v.kind for v in values.values)
        assert counts["nik"] > 300 and counts["phone"] > 300 and counts["email"] > 100, counts
        assert counts["address"] > 300 and counts["account_number"] > 200, counts

        # Wait for the consequences: dead letters, payments recorded, deliveries, quiet outboxes.
        records: Records = {}
        sizes: list[int] = []
        waiting: dict[str, Any] = {}

        async def everything_arrived() -> bool:
            nonlocal records
            waiting.clear()
            records, highs = await read_everything(broker.bootstrap)
            if busy := await unsettled(svc, broker.bootstrap, highs):
                waiting["busy"] = busy[:5]
                return False
            sizes.append(sum(map(len, records.values())))
            for s in ("certification", "incentives", "notifications"):  # the consumers of CadreRegistered
                dead = {_header(r, "ce_id") for r in records.get(topics.dlq_topic(s), [])}
                if missing := intruder_ids - dead:
                    waiting[f"dead letters at {s}"] = sorted(missing)
            recorded = [r for r in records[topics.INCENTIVES] if b"IncentivePaymentRecorded" in _type(r)]
            if len(recorded) < story["payments"]:
                waiting["payments recorded"] = (len(recorded), story["payments"])
            # Deliveries have started (the worker trails the consumer; the mail about the failed
            # payment may come later than this test waits: the bank's reason is checked in the
            # event it is made from, and in the mail when it has arrived).
            if not any(b"NotificationDelivered" in _type(r) for r in records[topics.NOTIFICATIONS]):
                waiting["deliveries"] = 0
            # ... and nothing new since the last look: the delivery worker has finished too.
            if len(sizes) < 2 or sizes[-1] != sizes[-2]:
                waiting["records"] = sizes[-2:]
            return not waiting

        try:
            await eventually(everything_arrived, "dead letters, payment records and deliveries", timeout=DRAIN)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still waiting for {waiting}") from exc
        timings["settled"] = time.monotonic() - started
        for s in SERVICES:  # stopped cleanly, so the shutdown lines are in the logs too
            assert await svc[s].stop() in (0, -signal.SIGTERM), s  # uvicorn re-raises SIGTERM once done
    finally:
        catcher.terminate()
        catcher.wait(10)

    problems: list[Any] = []  # findings (Hit objects or messages), all reported at the end

    # -------------------------------------------------------------- the API's refusals
    for what, response, sent in story["refusals"]:
        echoed = [v for v in sent if v and (v in response.text or v.lower() in response.text.lower())]
        if echoed:
            problems.append(f"API answer to {what} ({response.status_code}) echoes {echoed}: {response.text[:300]}")

    # -------------------------------------------------------------- the private topic
    contact, payment = FieldCipher(CONTACT_KEY), FieldCipher(PAYMENT_KEY)
    by_cadre = {c["id"]: c for c in cadres}
    decrypted: Counter[str] = Counter()
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records[topics.CADRE_PRIVATE]:
        body = json.loads(r.value)
        ce_type = _type(r).decode()
        cid = body["cadre_id"]
        latest[(cid, ce_type)] = body
        cipher, other = (contact, payment) if "ContactChanged" in ce_type else (payment, contact)
        clear_fields = dict(body)
        for name in [n for n in body if n.endswith("_enc")]:
            token = clear_fields.pop(name)
            if token is None:
                continue
            assert isinstance(token, str) and token.startswith(cipher.key_id + ":"), (name, token[:20])
            plain = cipher.decrypt(token)
            with pytest.raises(FieldCipherError):
                other.decrypt(token)  # the other purpose's key cannot read it
            assert plain, name
            decrypted[name] += 1
            kind = name.removesuffix("_enc")
            if kind != "bank":  # each decrypted value is one the registry was given for this cadre
                mine = [v.value for v in values.values if v.owner == cid and v.kind == kind]
                mine += [by_cadre[cid]["name"]] if kind == "account_holder" else []  # the default holder
                assert any(same_value(kind, plain, m) for m in mine), (cid, name)
        rest = json.dumps(clear_fields) + "\n" + headers_text(r)
        problems += [f"{h} (outside the encrypted fields)" for h in values.find(rest, topics.CADRE_PRIVATE)]
        problems += pattern_hits(rest, topics.CADRE_PRIVATE)
    assert decrypted["phone_enc"] >= 300 and decrypted["account_number_enc"] >= 200, decrypted
    her = by_cadre[story["cadre_id"]]
    now_contact = latest[(her["id"], "sikader.registry.CadreContactChanged.v1")]
    assert contact.decrypt(now_contact["phone_enc"]) == her["phone"] == "+6285344447788"
    assert contact.decrypt(now_contact["email_enc"]) == her["email"]
    now_payment = latest[(her["id"], "sikader.registry.CadrePaymentDetailsChanged.v1")]
    assert payment.decrypt(now_payment["account_number_enc"]) == SECOND["account_number"]
    assert payment.decrypt(now_payment["account_holder_enc"]) == HOLDER

    # -------------------------------------------------------------- every other topic
    dlq_topics = {topics.dlq_topic(s) for s in SERVICES}
    scanned: dict[str, int] = {}
    for topic, recs in sorted(records.items()):
        scanned[topic] = len(recs)
        if topic == topics.CADRE_PRIVATE:
            continue
        for r in recs:
            where = f"{topic}@{r.partition}:{r.offset}"
            ce_id = _header(r, "ce_id")
            if topic in dlq_topics:
                # The original message, unchanged, is allowed to be the intruder's; nothing else.
                if ce_id not in intruder_ids:
                    problems.append(f"{where}: a DLQ record that is not one of the malformed messages ({ce_id})")
                added = headers_text(r, prefix="dlq_")
                problems += values.find(added, f"{where} dlq headers")
                problems += pattern_hits(added, f"{where} dlq headers")
                continue
            if topic == topics.CADRE and ce_id in intruder_ids:
                continue  # published by this test
            text = text_of(r)
            problems += values.find(text, where)
            problems += pattern_hits(text, where)

    # -------------------------------------------------------------- the logs
    log_files = {s: svc[s].log_path for s in SERVICES} | {"mail catcher": mail_log}
    lines_per_log: dict[str, int] = {}
    levels: dict[str, Counter[str]] = {}
    for name, path in log_files.items():
        lines = path.read_text("utf-8", "replace").splitlines()
        lines_per_log[name] = len(lines)
        levels[name] = Counter()
        for n, line in enumerate(lines, start=1):
            try:
                levels[name][json.loads(line).get("level", "?")] += 1
            except ValueError:
                levels[name]["(not json)"] += 1
            problems += values.find(line, f"{name} log line {n}")
            problems += pattern_hits(line, f"{name} log line {n}")
    for s in SERVICES:
        assert levels[s]["info"] > 0, (s, levels[s])
    dead_lettered = sum(
        1 for s in SERVICES for line in svc[s].log_path.read_text().splitlines() if '"dead-lettered"' in line
    )
    assert dead_lettered >= 3 * len(intruder_msgs), "the DLQ path was not logged"
    assert levels["registry"]["error"] >= (1 if refused else 0), "the refused write was not logged"

    # -------------------------------------------------------------- mail and text messages
    store = MailStore(tmp_path / "mail")
    messages = store.messages()
    texts = store.texts()
    assert messages and texts, (len(messages), len(texts))
    for kind in ("nik", "account_number", "account_holder", "api_key"):
        forbidden = KnownValues()
        for v in values.of_kind(kind):
            forbidden.add(v.kind, v.value, v.owner)
        for i, m in enumerate(messages):  # what the message says (its recipient is allowed)
            problems += forbidden.find(f"{m['Subject']}\n{m.get_content()}", f"mail {i} to {m['To']}")
        for i, t in enumerate(texts):
            problems += forbidden.find(str(t.get("text")), f"text {i} ({t.get('channel')})")
    contacts_by_value = {v.value.lower(): v.owner for v in values.of_kind("phone", "email")}
    for i, m in enumerate(messages):
        others = KnownValues()
        recipient_owner = contacts_by_value.get(str(m["To"]).lower())
        for v in values.of_kind("phone", "email"):
            if v.owner != recipient_owner:
                others.add(v.kind, v.value, v.owner)
        problems += [f"{h} (another person's contact)" for h in others.find(m.get_content(), f"mail {i}")]

    report = {
        "messages per topic": scanned,
        "log lines": lines_per_log,
        "log levels": {k: dict(v) for k, v in levels.items()},
        "mails": len(messages),
        "texts": len(texts),
        "sensitive values": dict(counts),
        "timings (s from start)": {k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(report, indent=1))
    (tmp_path / "privacy-report.json").write_text(json.dumps(report, indent=1))
    problems = [str(p) for p in problems]
    assert not problems, f"{len(problems)} leaks, the first ones:\n" + "\n".join(problems[:40])


def _type(record: ConsumerRecord[bytes, bytes]) -> bytes:
    return next((v or b"" for k, v in record.headers if k == "ce_type"), b"")


def _header(record: ConsumerRecord[bytes, bytes], name: str) -> str:
    return next(((v or b"").decode("utf-8", "replace") for k, v in record.headers if k == name), "")
