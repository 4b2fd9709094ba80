"""The integrators' examples in docs/examples/ (Java, Node, Go, Python), built by `make
test-examples` and run as separate processes against the test stack on Apache Kafka: a cadre is
registered, assessed and certified, and each example must report CadreCertified both from Kafka
(with the API's view of the certificate, fetched with a key) and from a webhook whose Standard
Webhooks signature it verified. Then: a replayed webhook is a duplicate, a tampered one is refused
(401), an invalid body is refused (400), and after a restart a re-published record is skipped by
ce_id while the committed offsets keep the original from being read again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from certification.app import definition as certification_definition
from certification.settings import CertificationSettings
from notifications.app import definition as notifications_definition
from notifications.settings import NotificationsSettings
from registry.app import definition as registry_definition
from registry.settings import RegistrySettings
from sikader_shared import topics
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.checks import eventually
from sikader_shared.testing.kafka import headers_of, publish_raw, wait_for
from tests.certification.support import assessment
from tests.conftest import settings_for
from tests.examples.runners import EXAMPLE_LIST, SCHEMA_DIR, Example, Running, self_test
from tests.notifications.support import issue
from tests.registry.conftest import make_nik

pytestmark = [pytest.mark.examples, pytest.mark.integration, pytest.mark.timeout(400)]
CERTIFIED = "sikader.certification.CadreCertified.v1"
CLIENT = "dinkes"


def built(example: Example) -> None:
    if not example.built.exists():
        pytest.fail(f"{example.name} example not built ({example.built}): run `make test-examples`")


@pytest.mark.parametrize("example", EXAMPLE_LIST, ids=lambda e: e.name)
def test_self_test_checks_the_standard_webhooks_vector(example: Example) -> None:
    built(example)
    assert {"example": example.name, "event": "self-test", "ok": True} in self_test(example)


async def subscribe(base_url: str, key: str, port: int) -> str:
    """A CadreCertified subscription to the example's port; returns the secret the service
    generated (Standard Webhooks: `whsec_...`, shown only in this answer)."""
    url = f"http://127.0.0.1:{port}/hooks/sikader"
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as c:
        r = await c.post("/subscriptions", json={"url": url, "event_types": ["CadreCertified"]})
    assert r.status_code == 201, r.text
    secret = str(r.json()["secret"])
    assert secret.startswith("whsec_"), secret
    return secret


def example_env(
    example: Example, bootstrap: str, api_url: str, key: str, port: int, secret: str, var: Path
) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_GROUP_ID": f"opd.{CLIENT}.{example.name}-example",
        "SIKADER_API_URL": api_url,
        "SIKADER_API_KEY": key,
        "SIKADER_SCHEMA_DIR": str(SCHEMA_DIR),
        "WEBHOOK_PORT": str(port),
        "WEBHOOK_SECRET": secret,
        "STATE_FILE": str(var / f"{example.name}-processed-ids.txt"),
    }


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 60.0) -> Any:
    return await eventually(check, what, timeout=timeout, interval=0.2)


async def certify_a_cadre(registry: Any, certification: Any, keys: dict[str, str]) -> str:
    """Registered in the registry, assessed at certification: CadreCertified (Madya)."""
    async with registry.client(keys["dinsos"]) as reg:
        posyandu = await reg.post(
            "/posyandu", json={"name": "Posyandu Melati", "kelurahan_code": "64.71.06.1002", "posyandu_type": "balita"}
        )
        assert posyandu.status_code == 201, posyandu.text
        cadre = await reg.post(
            "/cadres",
            json={
                "nik": make_nik(date(1990, 5, 17), "F", serial=7),
                "name": "Rina Wati",
                "sex": "F",
                "birth_date": "1990-05-17",
                "phone": "0813-3333-4444",
                "roles": ["posyandu_cadre"],
                "posyandu_id": posyandu.json()["id"],
                "posyandu_role": "core",
            },
        )
        assert cadre.status_code == 201, cadre.text
    cadre_id = str(cadre.json()["id"])
    async with certification.client(keys["puskesmas"]) as cert:

        async def known() -> bool:
            return (await cert.get(f"/cadres/{cadre_id}")).status_code == 200

        await until(known, "the cadre known to certification")
        r = await cert.post("/assessments", json=assessment(cadre_id, "1", "2", "3", "4"))
        assert r.status_code == 201, r.text
        assert r.json()["level"] == "Madya"
    return cadre_id


async def start_stack(broker: Any, databases: Any, run_service: Any) -> tuple[Any, Any, Any, dict[str, str]]:
    registry = await run_service(registry_definition(settings_for(RegistrySettings, broker, databases("registry"))))
    certification = await run_service(
        certification_definition(settings_for(CertificationSettings, broker, databases("certification")))
    )
    notifications = await run_service(
        notifications_definition(
            settings_for(NotificationsSettings, broker, databases("notifications"), worker_poll_s=0.2)
        )
    )
    keys = {
        "dinsos": await issue(registry.runtime, "dinsos", ["registry:read", "registry:write"]),
        "puskesmas": await issue(registry.runtime, "puskesmas-klandasan", ["certification:assess"]),
        CLIENT: await issue(registry.runtime, CLIENT, ["notifications:subscribe"]),
    }
    for svc in (certification, notifications):  # sikader.auth.v1 carries the keys to every service

        async def whoami(svc: Any = svc) -> bool:
            async with svc.client(keys[CLIENT]) as c:
                return (await c.get("/auth/whoami")).status_code == 200

        await until(whoami, "the agency's key known to every service")
    return registry, certification, notifications, keys


async def test_examples_report_cadre_certified_from_kafka_and_webhook(
    broker: Any, databases: Any, run_service: Any, tmp_path: Path
) -> None:
    for example in EXAMPLE_LIST:
        built(example)
    registry, certification, notifications, keys = await start_stack(broker, databases, run_service)
    running: dict[str, Running] = {}
    try:
        for example in EXAMPLE_LIST:
            port = free_port()
            secret = await subscribe(notifications.url, keys[CLIENT], port)
            env = example_env(example, broker.bootstrap, certification.url, keys[CLIENT], port, secret, tmp_path)
            running[example.name] = Running(example, env, tmp_path / f"{example.name}.log").start()
        for run in running.values():
            await until(partial(_ready, run), f"{run.example.name} example ready")

        cadre_id = await certify_a_cadre(registry, certification, keys)
        [record] = await wait_for(
            broker.bootstrap,
            topics.CERTIFICATION,
            lambda r: headers_of(r).get("ce_type") == CERTIFIED and r.key == cadre_id.encode(),
        )
        ce_id = headers_of(record)["ce_id"]
        body = json.loads(record.value)
        for run in running.values():
            await _reported_certified(run, ce_id, cadre_id, body)
        for run in running.values():
            await _webhook_checks(run, ce_id, record.value)
        await _restart_skips_a_republished_record(running, broker.bootstrap, record, ce_id)
    finally:
        for run in running.values():
            run.stop()


async def _ready(run: Running) -> bool:
    assert run.alive(), f"{run.example.name} example exited:\n{run.tail()}"
    return bool(run.find(event="ready"))


async def _reported_certified(run: Running, ce_id: str, cadre_id: str, body: dict[str, Any]) -> None:
    name = run.example.name
    expected = {"ce_id": ce_id, "ce_type": CERTIFIED, "cadre_id": cadre_id, "event": "processed"}

    async def both() -> bool:
        assert run.alive(), f"{name} example exited:\n{run.tail()}"
        return bool(run.find(via="kafka", **expected)) and bool(run.find(via="webhook", **expected))

    try:
        await until(both, f"{name} example reporting CadreCertified from Kafka and from the webhook")
    except AssertionError:
        raise AssertionError(f"{name} example:\n{run.tail()}") from None
    for via in ("kafka", "webhook"):
        [seen] = run.find(via=via, **expected)
        assert seen["certificate_number"] == body["certificate_number"] and seen["level"] == "Madya", seen
        # the one API call, with the agency's key: certification's view of the same certificate
        assert seen["api_status"] == "valid" and seen["api_level"] == "Madya", seen


async def _webhook_checks(run: Running, ce_id: str, value: bytes) -> None:
    """Replayed (same webhook-id): a duplicate, 200. Tampered: 401. Signed but invalid (or not
    JSON): 400."""
    url = f"http://127.0.0.1:{run.env['WEBHOOK_PORT']}/hooks/sikader"
    webhook = Webhook(run.env["WEBHOOK_SECRET"])

    def signed(msg_id: str, data: bytes) -> dict[str, str]:
        now = datetime.now(tz=UTC)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": webhook.sign(msg_id, now, data.decode()),
            "ce-id": msg_id,
            "ce-type": CERTIFIED,
            "content-type": "application/json",
        }

    async with httpx.AsyncClient(timeout=10) as c:
        replay = await c.post(url, content=value, headers=signed(ce_id, value))
        assert replay.status_code == 200, (run.example.name, replay.text)
        tampered = await c.post(url, content=value.replace(b"Madya", b"Utama"), headers=signed(ce_id, value))
        assert tampered.status_code == 401, (run.example.name, tampered.status_code)
        bad_id, bad = str(uuid.uuid4()), json.dumps({"cadre_id": 42}).encode()
        invalid = await c.post(url, content=bad, headers=signed(bad_id, bad))
        assert invalid.status_code == 400, (run.example.name, invalid.status_code, invalid.text)
        not_json = await c.post(url, content=b"{not json", headers=signed(str(uuid.uuid4()), b"{not json"))
        assert not_json.status_code == 400, (run.example.name, not_json.status_code, not_json.text)
    assert run.find(event="duplicate", via="webhook", ce_id=ce_id), run.tail()
    assert run.find(event="rejected", via="webhook"), run.tail()
    assert run.find(event="invalid", via="webhook", ce_id=bad_id), run.tail()
    assert len(run.find(event="processed", via="webhook", ce_id=ce_id)) == 1


async def _restart_skips_a_republished_record(
    running: dict[str, Running], bootstrap: str, record: Any, ce_id: str
) -> None:
    """Stopped, the same record (same ce_id) published again after one that is not JSON, started:
    each example reports the broken one and carries on, skips the repeat by its processed-ids
    file, and does not read the original again (its offset was committed)."""
    for run in running.values():
        assert run.stop() in (0, 130, 143), (run.example.name, run.tail())
    broken_id = str(uuid.uuid4())
    broken = [(k, broken_id.encode() if k == "ce_id" else v) for k, v in record.headers]
    await publish_raw(
        bootstrap,
        record.topic,
        [(record.key, b"{not json", broken), (record.key, record.value, list(record.headers))],
    )
    for run in running.values():
        run.start()
    for run in running.values():

        async def skipped(run: Running = run) -> bool:
            assert run.alive(), f"{run.example.name} example exited:\n{run.tail()}"
            return bool(run.find(event="duplicate", via="kafka", ce_id=ce_id))

        try:
            await until(skipped, f"{run.example.name} example skipping the republished record")
        except AssertionError:
            raise AssertionError(f"{run.example.name} example:\n{run.tail()}") from None
        assert len(run.find(event="processed", via="kafka", ce_id=ce_id)) == 1, run.tail()
        assert len(run.find(event="duplicate", via="kafka", ce_id=ce_id)) == 1, run.tail()
        assert run.find(event="invalid", via="kafka", ce_id=broken_id), run.tail()
