"""Delivery channels behind one interface: `await sender.send(message)` returns when the
other side accepted the message and raises DeliveryFailed otherwise. Email goes over SMTP,
webhooks are signed HTTP POSTs of the CloudEvent, SMS and WhatsApp go through an HTTP
gateway."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiosmtplib
import httpx

from notifications.adapters.webhook_http import HttpError, WebhookClient
from notifications.domain.signing import WebhookKeys, webhook_headers
from notifications.domain.subscriptions import literal_address, refused_destination
from notifications.settings import NotificationsSettings

# httpx logs every request at INFO: at a thousand webhooks a second that line costs more CPU
# than the POST. Failures are logged by the worker and kept in the delivery log.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass(frozen=True)
class OutgoingMessage:
    notification_id: str
    channel: str
    to: str  # email address, phone number (+62...) or webhook URL
    subject: str = ""
    text: str = ""
    body: bytes = b""  # webhook: the CloudEvent data, byte for byte
    headers: dict[str, str] = field(default_factory=dict)
    keys: WebhookKeys | None = None  # webhook: the secrets that sign it
    webhook_id: str = ""  # webhook: the event's ce_id (webhook-id)


class DeliveryFailed(Exception):
    """The message was not accepted. The reason must not contain contact details.
    `permanent`: retrying cannot help (the destination is refused), give up at once."""

    def __init__(self, reason: str, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, message: OutgoingMessage) -> None: ...


def _http_client(timeout: float) -> httpx.AsyncClient:
    """One client per gateway sender, for every send: building one builds a TLS context. No
    keep-alive: each POST opens its own connection (a few messages a minute)."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0))


class EmailSender:
    def __init__(self, settings: NotificationsSettings) -> None:
        self.s = settings

    async def send(self, message: OutgoingMessage) -> None:
        mail = EmailMessage()
        mail["From"] = self.s.smtp_from
        mail["To"] = message.to
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(idstring=message.notification_id.replace("-", ""), domain="sikader")
        mail["X-Sikader-Notification"] = message.notification_id
        for name, value in message.headers.items():
            mail[name] = value
        mail.set_content(message.text)
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.s.smtp_host,
                port=self.s.smtp_port,
                username=self.s.smtp_username or None,
                password=self.s.smtp_password or None,
                start_tls=self.s.smtp_starttls,
                use_tls=self.s.smtp_use_tls,
                timeout=self.s.smtp_timeout_s,
            )
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryFailed(f"smtp {exc.code}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryFailed(f"smtp: {type(exc).__name__}") from exc


class WebhookSender:
    """POST of the CloudEvent in HTTP binary mode (ce-* headers, the event JSON as body),
    signed as Standard Webhooks say: webhook-id (the ce_id), webhook-timestamp and
    webhook-signature = v1,<base64 HMAC-SHA256(key, id.timestamp.body)>."""

    def __init__(self, settings: NotificationsSettings) -> None:
        self.timeout = settings.webhook_timeout_s
        self.allow_private = settings.webhook_allow_private_networks
        # Keep-alive connections per webhook URL, up to one per webhook in flight.
        self.client = WebhookClient(settings.webhook_concurrency)

    async def _check_destination(self, url: str) -> None:
        """Resolve the host at each send (a name may point somewhere else since it was
        registered) and refuse non-public addresses. The HTTP client resolves again when it
        connects, so a name that changes in between (DNS rebinding) is out of this check's
        reach: an egress firewall is the place for that."""
        host = httpx.URL(url).host
        literal = literal_address(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
            except OSError as exc:
                raise DeliveryFailed("webhook: the host name does not resolve") from exc
            addresses = [str(info[4][0]) for info in infos]
        reason = refused_destination(host, addresses)
        if reason is not None:
            raise DeliveryFailed(f"webhook destination refused: {reason}", permanent=True)

    async def send(self, message: OutgoingMessage) -> None:
        if not self.allow_private:
            await self._check_destination(message.to)
        if message.keys is None:
            raise DeliveryFailed("webhook: no signing secret", permanent=True)
        signature = webhook_headers(
            message.keys, message.webhook_id, message.notification_id, int(time.time()), message.body
        )
        headers = [
            *message.headers.items(),
            ("content-type", "application/json"),
            *signature.items(),
            ("user-agent", "sikader-notifications/2"),
        ]
        try:
            async with asyncio.timeout(self.timeout):
                status = await self.client.post(message.to, headers, message.body)
        except TimeoutError as exc:
            raise DeliveryFailed(f"webhook timed out after {self.timeout:g} s") from exc
        except HttpError as exc:
            raise DeliveryFailed(f"webhook: {exc.kind}") from exc
        if not 200 <= status < 300:
            raise DeliveryFailed(f"webhook answered HTTP {status}")


class GatewaySender:
    """SMS or WhatsApp: POST {"to", "channel", "text", "reference"} to the configured gateway."""

    def __init__(self, url: str, channel: str, settings: NotificationsSettings) -> None:
        self.url = url
        self.channel = channel
        self.token = settings.gateway_token
        self.timeout = settings.gateway_timeout_s
        self._client: httpx.AsyncClient | None = None

    async def send(self, message: OutgoingMessage) -> None:
        if not self.url:
            raise DeliveryFailed(f"no {self.channel} gateway configured")
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = f"Bearer {self.token}"
        body = {"to": message.to, "channel": self.channel, "text": message.text, "reference": message.notification_id}
        if self._client is None:
            self._client = _http_client(self.timeout)
        try:
            response = await self._client.post(self.url, content=json.dumps(body), headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryFailed(f"{self.channel} gateway timed out") from exc
        except httpx.HTTPError as exc:
            raise DeliveryFailed(f"{self.channel} gateway: {type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryFailed(f"{self.channel} gateway answered HTTP {response.status_code}")


def build_senders(settings: NotificationsSettings) -> dict[str, Sender]:
    return {
        "email": EmailSender(settings),
        "webhook": WebhookSender(settings),
        "sms": GatewaySender(settings.sms_gateway_url, "sms", settings),
        "whatsapp": GatewaySender(settings.whatsapp_gateway_url, "whatsapp", settings),
    }
