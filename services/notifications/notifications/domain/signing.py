"""Signatures: Standard Webhooks signatures of webhook bodies (what subscribers verify) and signed
unsubscribe tokens (what a cadre clicks, without any key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

# The Standard Webhooks headers (standardwebhooks.com), sent with every webhook.
ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec allows 24-64 random bytes; libraries accept any length

# The deprecated X-Sikader-* headers: sent only for subscriptions made before Standard
# Webhooks, until their secret is rotated (and its grace period ends) or the removal date.
SIGNATURE_HEADER = "X-Sikader-Signature"
TIMESTAMP_HEADER = "X-Sikader-Timestamp"
DELIVERY_HEADER = "X-Sikader-Delivery"
LEGACY_HEADERS_REMOVED_ON = "2027-03-31"


def new_secret() -> str:
    """A fresh `whsec_` secret: base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_from_legacy(client_secret: str) -> str:
    """The `whsec_` form of a client-chosen secret: its UTF-8 bytes are the key, so a client
    can verify the Standard Webhooks signature with any library, given
    `"whsec_" + base64(secret)`."""
    return SECRET_PREFIX + base64.b64encode(client_secret.encode("utf-8")).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("not a whsec_ secret")
    return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>`."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def signature_header(keys: Sequence[bytes], msg_id: str, timestamp: str, body: bytes) -> str:
    """The `webhook-signature` value: one signature per key, space-separated (two during a
    rotation's grace period)."""
    return " ".join(standard_signature(key, msg_id, timestamp, body) for key in keys)


def webhook_signature(secret: str | bytes, timestamp: str, body: bytes) -> str:
    """Deprecated X-Sikader-Signature: `sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." +
    body)."""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(
    secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: int = 300
) -> bool:
    """What a receiver of the deprecated headers does: recompute, compare in constant time,
    refuse stale timestamps (replays)."""
    try:
        if abs(now - int(timestamp)) > tolerance_s:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(webhook_signature(secret, timestamp, body), signature)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def unsubscribe_token(secret: bytes, cadre_id: str, channel: str) -> str:
    """A token naming (cadre, channel), signed so that nobody can unsubscribe someone else."""
    payload = f"{cadre_id}|{channel}".encode()
    mac = hmac.new(secret, b"unsubscribe|" + payload, hashlib.sha256).digest()[:16]
    return f"{_b64(payload)}.{_b64(mac)}"


def read_unsubscribe_token(secret: bytes, token: str) -> tuple[str, str] | None:
    """(cadre_id, channel) of a valid token, else None."""
    head, _, sig = token.partition(".")
    try:
        payload = _unb64(head)
        given = _unb64(sig)
    except (ValueError, UnicodeEncodeError):
        return None
    expected = hmac.new(secret, b"unsubscribe|" + payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(expected, given):
        return None
    cadre_id, _, channel = payload.decode("utf-8", "replace").partition("|")
    return (cadre_id, channel) if cadre_id and channel else None


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s-]{7,}\d")


def redact(text: str) -> str:
    """Failure reasons travel in events and logs: strip anything that looks like an email
    address or a phone number (an SMTP server may echo the recipient)."""
    return _PHONE.sub("[redacted]", _EMAIL.sub("[redacted]", text))[:500]


@dataclass(frozen=True)
class WebhookKeys:
    """What signs a subscription's webhooks now: its `whsec_` secrets (the current one first,
    then the previous one during a rotation's grace period) and, for a subscription made before
    Standard Webhooks, its client-chosen secret (as `whsec_`) for the deprecated headers."""

    secrets: tuple[str, ...]
    legacy: str | None = None


def keys_at(
    secret: str,
    previous: str | None,
    previous_until: datetime | None,
    legacy: str | None,
    legacy_until: datetime | None,
    now: datetime,
) -> WebhookKeys:
    """The keys in force at `now` (a grace period ends at its `..._until`)."""
    current = [secret]
    if previous is not None and previous_until is not None and now < previous_until:
        current.append(previous)
    in_force = legacy is not None and (legacy_until is None or now < legacy_until)
    return WebhookKeys(tuple(current), legacy if in_force else None)


def webhook_headers(
    keys: WebhookKeys, webhook_id: str, delivery_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """The signature headers of one POST: Standard Webhooks, plus the deprecated X-Sikader-*
    ones while a client-chosen secret is in force."""
    ts = str(timestamp)
    headers = {
        ID_HEADER: webhook_id,
        STANDARD_TIMESTAMP_HEADER: ts,
        STANDARD_SIGNATURE_HEADER: signature_header([secret_key(s) for s in keys.secrets], webhook_id, ts, body),
    }
    if keys.legacy is not None:
        headers[TIMESTAMP_HEADER] = ts
        headers[SIGNATURE_HEADER] = webhook_signature(secret_key(keys.legacy), ts, body)
        headers[DELIVERY_HEADER] = delivery_id
    return headers
