"""Signatures: HMAC-SHA256 over webhook bodies (what subscribers verify) and signed
unsubscribe tokens (what a cadre clicks, without any key)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-Sikader-Signature"
TIMESTAMP_HEADER = "X-Sikader-Timestamp"
DELIVERY_HEADER = "X-Sikader-Delivery"


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex>` of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_webhook(
    secret: str, timestamp: str, body: bytes, signature: str, now: float, tolerance_s: int = 300
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps
    (replays)."""
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
