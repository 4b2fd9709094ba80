"""An agency's integration with SI-KADER, in Python: consumes sikader.certification.v1 (CloudEvents
binary headers), validates each body against its published JSON Schema, processes each event once
by ce_id (a file of processed ids that survives a restart; offsets committed after processing),
receives webhooks verified with Standard Webhooks, and calls one API route with a key.

Configuration by environment variables: see README.md. `python sikader_example.py --self-test`
checks the Standard Webhooks test vector and exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from jsonschema import Draft202012Validator, FormatChecker
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

TOPIC = "sikader.certification.v1"
CERTIFIED = "sikader.certification.CadreCertified.v1"


def env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"set {name} (see README.md)")
    return value


def report(**fields: Any) -> None:
    """One JSON line per outcome on stdout: what the CI test reads."""
    print(json.dumps({"example": "python", **fields}), flush=True)


class ProcessedIds:
    """The ids already processed, one `<channel> <ce_id>` line each, appended and fsynced before
    the offset is committed (or the webhook answered): a restart skips what was done."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.seen = set(path.read_text().splitlines()) if path.exists() else set()

    def first_time(self, channel: str, ce_id: str) -> bool:
        with self.lock:
            return f"{channel} {ce_id}" not in self.seen

    def done(self, channel: str, ce_id: str) -> None:
        with self.lock, self.path.open("a") as f:
            f.write(f"{channel} {ce_id}\n")
            f.flush()
            os.fsync(f.fileno())
            self.seen.add(f"{channel} {ce_id}")


class Schemas:
    """The published JSON Schemas, one file per ce_type, from SIKADER_SCHEMA_DIR."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cache: dict[str, Draft202012Validator] = {}

    def errors(self, ce_type: str, body: Any) -> list[str]:
        if ce_type not in self.cache:
            path = self.directory / f"{ce_type}.json"
            if not path.exists():
                return [f"no published schema for {ce_type}"]
            schema = json.loads(path.read_text())
            self.cache[ce_type] = Draft202012Validator(schema, format_checker=FormatChecker())
        return [e.message for e in self.cache[ce_type].iter_errors(body)]


def certificates_of(cadre_id: str) -> list[dict[str, Any]]:
    """The one API call: the holder's certificates at certification, with the agency's key."""
    response = httpx.get(
        f"{env('SIKADER_API_URL').rstrip('/')}/certificates",
        params={"cadre_id": cadre_id},
        headers={"Authorization": f"Bearer {env('SIKADER_API_KEY')}"},
        timeout=10,
    )
    response.raise_for_status()
    return list(response.json())


def process(channel: str, ce_id: str, ce_type: str, body: dict[str, Any]) -> None:
    """What the agency does with an event: here, look the certificate up and report it."""
    fields: dict[str, Any] = {"via": channel, "ce_id": ce_id, "ce_type": ce_type, "cadre_id": body.get("cadre_id")}
    if ce_type == CERTIFIED:
        listed = {c["certificate_id"]: c for c in certificates_of(body["cadre_id"])}
        api = listed.get(body["certificate_id"], {})
        fields |= {"certificate_number": body["certificate_number"], "level": body["level"]}
        fields |= {"api_status": api.get("status"), "api_level": api.get("level")}
    report(event="processed", **fields)


def kafka_security() -> dict[str, Any]:
    """PLAINTEXT by default; SASL_SSL with SCRAM-SHA-512 for an agency's broker account."""
    protocol = env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    config: dict[str, Any] = {"security_protocol": protocol}
    if protocol.startswith("SASL"):
        config |= {
            "sasl_mechanism": env("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            "sasl_plain_username": env("KAFKA_SASL_USERNAME"),
            "sasl_plain_password": env("KAFKA_SASL_PASSWORD"),
        }
    if protocol.endswith("SSL"):
        config["ssl_context"] = ssl.create_default_context(cafile=os.environ.get("KAFKA_SSL_CAFILE") or None)
    return config


async def consume(store: ProcessedIds, schemas: Schemas, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        env("KAFKA_TOPIC", TOPIC),
        bootstrap_servers=env("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        group_id=env("KAFKA_GROUP_ID", "opd.dinkes.python-example"),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **kafka_security(),
    )
    await consumer.start()
    report(event="ready", webhook_port=int(env("WEBHOOK_PORT", "8090")))
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for tp, records in batches.items():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    await asyncio.to_thread(handle_record, store, schemas, headers, record.value or b"")
                    await consumer.commit({TopicPartition(tp.topic, tp.partition): record.offset + 1})
    finally:
        await consumer.stop()


def handle_record(store: ProcessedIds, schemas: Schemas, headers: dict[str, str], value: bytes) -> None:
    ce_id, ce_type = headers.get("ce_id", ""), headers.get("ce_type", "")
    if not store.first_time("kafka", ce_id):
        report(event="duplicate", via="kafka", ce_id=ce_id, ce_type=ce_type)
        return
    try:
        body = json.loads(value)
    except ValueError as exc:
        body, errors = None, [f"not JSON: {exc}"]
    else:
        errors = schemas.errors(ce_type, body)
    if errors:  # a real integration would park it (a dead-letter table); here: reported, skipped
        report(event="invalid", via="kafka", ce_id=ce_id, ce_type=ce_type, errors=errors[:3])
    else:
        process("kafka", ce_id, ce_type, body)
    store.done("kafka", ce_id)


def webhook_server(store: ProcessedIds, schemas: Schemas) -> ThreadingHTTPServer:
    webhook = Webhook(env("WEBHOOK_SECRET"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def answer(self, status: int, reason: str = "") -> None:
            self.send_response(status)
            self.send_header("content-type", "text/plain")
            self.end_headers()
            self.wfile.write(reason.encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                webhook.verify(body, headers, json_parse=False)
            except (WebhookVerificationError, KeyError) as exc:
                report(event="rejected", via="webhook", reason=str(exc) or type(exc).__name__)
                return self.answer(401, "signature does not verify")
            ce_id, ce_type = headers["webhook-id"], headers.get("ce-type", "")
            try:
                data = json.loads(body)
            except ValueError:
                return self.answer(400, "the body is not JSON")
            if not store.first_time("webhook", ce_id):
                report(event="duplicate", via="webhook", ce_id=ce_id, ce_type=ce_type)
                return self.answer(200)
            errors = schemas.errors(ce_type, data)
            if errors:
                report(event="invalid", via="webhook", ce_id=ce_id, ce_type=ce_type, errors=errors[:3])
                return self.answer(400, "; ".join(errors[:3]))
            process("webhook", ce_id, ce_type, data)
            store.done("webhook", ce_id)
            self.answer(200)

    server = ThreadingHTTPServer(("0.0.0.0", int(env("WEBHOOK_PORT", "8090"))), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def self_test() -> None:
    """The Standard Webhooks specification's test vector, then a fresh and a tampered message."""
    webhook = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    at = datetime.fromtimestamp(1614265330, tz=UTC)
    signature = webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", at, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", signature
    now = datetime.now(tz=UTC)
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp()))}
    headers["webhook-signature"] = "v1,bogus " + webhook.sign("msg_1", now, b'{"a":1}')
    webhook.verify(b'{"a":1}', headers)
    try:
        webhook.verify(b'{"a":2}', headers)
    except WebhookVerificationError:
        report(event="self-test", ok=True)
        return
    raise AssertionError("a tampered body verified")


async def main() -> None:
    store = ProcessedIds(Path(env("STATE_FILE", "processed-ids.txt")))
    schemas = Schemas(Path(env("SIKADER_SCHEMA_DIR", "schemas")))
    server = webhook_server(store, schemas)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await consume(store, schemas, stop)
    finally:
        server.shutdown()


if __name__ == "__main__":
    if "--self-test" in sys.argv:
        self_test()
    else:
        asyncio.run(main())
