"""Field encryption for the private topic. Fernet (AES-128-CBC + HMAC-SHA256) with a key
per purpose: `contact` (read by notifications) and `payment` (read by incentives). A token
starts with the key id so keys can be rotated: `<key_id>:<fernet token>`."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class FieldCipherError(ValueError):
    pass


def new_key() -> str:
    return Fernet.generate_key().decode("ascii")


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:8]


class FieldCipher:
    def __init__(self, *keys: str) -> None:
        """The first key encrypts; all keys may decrypt (rotation)."""
        usable = [k for k in keys if k]
        if not usable:
            raise FieldCipherError("no encryption key configured")
        try:
            self._fernets = {key_id(k): Fernet(k.encode("ascii")) for k in usable}
        except (ValueError, TypeError) as exc:
            raise FieldCipherError("encryption key is not a Fernet key (urlsafe base64, 32 bytes)") from exc
        self.key_id = key_id(usable[0])

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return f"{self.key_id}:{self._fernets[self.key_id].encrypt(value.encode('utf-8')).decode('ascii')}"

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        kid, _, body = token.partition(":")
        fernet = self._fernets.get(kid)
        if fernet is None:
            raise FieldCipherError(f"no key {kid!r} to decrypt this field")
        try:
            return fernet.decrypt(body.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as exc:
            raise FieldCipherError("field does not decrypt with the configured key") from exc


def derive_dev_key(secret: str, purpose: str) -> str:
    """For `make run` only: a stable development key derived from a local secret."""
    digest = hashlib.sha256(f"{purpose}:{secret}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")
