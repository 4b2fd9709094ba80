"""Real local receivers for the notifications tests: an HTTP receiver (webhook subscriber or
SMS / WhatsApp gateway) that verifies signatures, plus event builders."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from sqlalchemy import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from notifications.adapters.tables import CadreRow, ContactRow, DeliveryRow, PosyanduRow
from sikader_shared.auth import issue_key
from sikader_shared.crypto import FieldCipher
from sikader_shared.events import (
    CadreCertified,
    CadreContactChanged,
    CadreRegistered,
    CertificateExpired,
    CertificateExpiring,
    CertificateRevoked,
    Event,
)
from sikader_shared.service import ServiceRuntime
from sikader_shared.testing import checks
from sikader_shared.testing.broker import free_port
from sikader_shared.testing.kafka import as_message, envelope_for, publish_raw
from sikader_shared.uow import Actor
from tests.conftest import CONTACT_KEY

KEC = "64.71.01"
KEL = "64.71.01.1001"


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """Standard Webhooks verification with the PyPI `standardwebhooks` library (pinned in
    requirements-dev.txt), as a subscriber runs it: signature, id and a fresh timestamp."""
    try:
        Webhook(secret).verify(body, headers)
    except (WebhookVerificationError, ValueError):  # ValueError: not a whsec_ / base64 secret
        return False
    return True


def verify_legacy_signature(secret: str, headers: dict[str, str], body: bytes, tolerance_s: int = 300) -> bool:
    """The deprecated X-Sikader-Signature check, as services/notifications/README.md describes it."""
    timestamp = headers.get("x-sikader-timestamp", "")
    signature = headers.get("x-sikader-signature", "")
    expected = "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) <= tolerance_s
    return fresh and hmac.compare_digest(expected, signature)


def whsec_of(client_secret: str) -> str:
    """The documented whsec_ form of a client-chosen secret (the same key)."""
    return "whsec_" + base64.b64encode(client_secret.encode()).decode()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    verified: bool | None
    at: float = field(default_factory=time.monotonic)  # when it was answered

    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    """A real HTTP server in a thread, an outside system's webhook endpoint. `status` is what
    it answers (401 when a `secret` (whsec_) is set and the Standard Webhooks signature does
    not verify, or a `legacy_secret` is set and the deprecated one does not); `hold` (when
    set to an Event) makes it hang until the event is set: a slow subscriber. It can stop and
    start again on the same port: while it is down, connections are refused (what a crashed
    receiver looks like)."""

    def __init__(self, secret: str | None = None, path: str = "/hook", legacy_secret: str | None = None) -> None:
        self.secret = secret
        self.legacy_secret = legacy_secret
        self.path = path
        self.port = free_port()
        self.status = 200
        self.hold: threading.Event | None = None
        self.delay = 0.0  # seconds before answering: a receiver that takes its time
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests it was answering at once
        self.requests: list[Received] = []  # answered requests, in arrival order
        self.arrived = 0  # requests that reached the handler, answered or not
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.arrived += 1
                    receiver.in_flight += 1
                    receiver.max_in_flight = max(receiver.max_in_flight, receiver.in_flight)
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                time.sleep(receiver.delay)
                status = receiver.status
                verified = receiver.verify(headers, body)
                if verified is False:
                    status = 401
                with receiver._lock:
                    receiver.requests.append(Received(headers, body, status, verified))
                    receiver.in_flight -= 1
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def verify(self, headers: dict[str, str], body: bytes) -> bool | None:
        """None without secrets, else whether every signature expected verifies."""
        if self.secret is None and self.legacy_secret is None:
            return None
        standard = self.secret is None or verify_signature(self.secret, headers, body)
        legacy = self.legacy_secret is None or verify_legacy_signature(self.legacy_secret, headers, body)
        return standard and legacy

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            if self.hold is not None:
                self.hold.set()
            server.shutdown()
            server.server_close()

    def snapshot(self) -> list[Received]:
        """The answered requests so far (safe while requests arrive)."""
        with self._lock:
            return list(self.requests)

    def accepted(self) -> list[Received]:
        return [r for r in self.requests if 200 <= r.status < 300]


async def issue(runtime: ServiceRuntime, client: str, scopes: list[str]) -> str:
    """A fresh API key of `client` with `scopes`."""
    async with runtime.uow(actor=Actor("ops", scopes=frozenset({"admin"}))) as uow:
        _, key = await issue_key(uow, client, scopes)
        await uow.commit()
    return key


eventually = partial(checks.eventually, timeout=30.0)


async def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    async def check() -> bool:
        return predicate()

    await eventually(check, timeout=timeout)


async def deliveries(runtime: ServiceRuntime, **where: Any) -> list[DeliveryRow]:
    async with runtime.sessions() as session:
        query = select(DeliveryRow).order_by(DeliveryRow.id)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(DeliveryRow, name) == value)
        return list((await session.execute(query)).scalars())


async def projected(
    runtime: ServiceRuntime, cadre_ids: list[str], contacts: int = 0, posyandu_id: str | None = None
) -> None:
    """Wait until the registry's events are applied. Topics are consumed in no mutual order,
    so a test publishes the registry's events, waits here, then publishes what refers to them."""

    async def check() -> bool:
        async with runtime.sessions() as session:
            cadres = [await session.get(CadreRow, c) for c in cadre_ids]
            known = len((await session.execute(select(ContactRow))).scalars().all())
            posyandu = await session.get(PosyanduRow, posyandu_id) if posyandu_id else True
        return all(cadres) and known >= contacts and posyandu is not None

    await eventually(check)


async def publish(bootstrap: str, *items: tuple[Event, str]) -> list[str]:
    """Publish (event, publishing service) pairs in order; returns their ce_ids."""
    ids = []
    for event, service in items:
        env = envelope_for(event, service=service, actor="test")
        await publish_raw(bootstrap, event.topic, [as_message(event, env)])
        ids.append(env.id)
    return ids


def cadre(
    cadre_id: str | None = None,
    name: str = "Siti Aminah",
    kec: str = KEC,
    kel: str = KEL,
    roles: tuple[str, ...] = ("posyandu_cadre",),
    posyandu_id: str | None = None,
    posyandu_role: str | None = None,
) -> CadreRegistered:
    return CadreRegistered(
        cadre_id=cadre_id or str(uuid.uuid4()),
        kelurahan_code=kel,
        kecamatan_code=kec,
        name=name,
        roles=list(roles),
        status="active",
        posyandu_id=posyandu_id,
        posyandu_role=posyandu_role,
        registered_at=datetime.now(UTC),
    )


def contact(cadre_id: str, email: str | None = None, phone: str | None = None) -> CadreContactChanged:
    cipher = FieldCipher(CONTACT_KEY)
    return CadreContactChanged(
        cadre_id=cadre_id,
        key_id=cipher.key_id,
        changed_at=datetime.now(UTC),
        email_enc=cipher.encrypt(email),
        phone_enc=cipher.encrypt(phone),
        address_enc=cipher.encrypt("Jl. Melati 5"),
    )


def _cert(cadre_id: str, number: str, kec: str, kel: str) -> dict[str, Any]:
    return {
        "cadre_id": cadre_id,
        "kelurahan_code": kel,
        "kecamatan_code": kec,
        "certificate_id": str(uuid.uuid4()),
        "certificate_number": number,
        "level": "Madya",
        "expires_on": date(2029, 12, 5),
    }


def certified(cadre_id: str, number: str = "KDR-2026-000123", kec: str = KEC, kel: str = KEL) -> CadreCertified:
    return CadreCertified(
        **_cert(cadre_id, number, kec, kel),
        status="valid",
        cadre_name="Siti Aminah",
        issued_on=date(2026, 12, 5),
        issuer="Dinas Kesehatan Kota Balikpapan",
        verify_url=f"https://sikader.example/verify/{number}",
    )


def expiring(cadre_id: str, number: str = "KDR-2026-000123") -> CertificateExpiring:
    return CertificateExpiring(**_cert(cadre_id, number, KEC, KEL), status="valid", days_left=30)


def expired(cadre_id: str, number: str = "KDR-2026-000123") -> CertificateExpired:
    return CertificateExpired(**_cert(cadre_id, number, KEC, KEL), status="expired", expired_on=date(2029, 12, 5))


def revoked(cadre_id: str, number: str = "KDR-2026-000123") -> CertificateRevoked:
    return CertificateRevoked(
        **_cert(cadre_id, number, KEC, KEL),
        status="revoked",
        reason="data palsu",
        revoked_by="dinkes",
        revoked_at=datetime.now(UTC),
    )
