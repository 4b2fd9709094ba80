"""Field encryption for the private topic. Fernet (AES-128-CBC + HMAC-SHA256) with a key
per purpose: `contact` (read by notifications) and `payment` (read by incentives). A token
starts with the key id so keys can be rotated: `<key_id>:<fernet token>`."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import struct
import time
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sikader_shared.errors import Unavailable

log = logging.getLogger(__name__)


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
        raw = base64.urlsafe_b64decode(usable[0])
        self._aes = algorithms.AES(raw[16:])
        # HMAC-SHA256 with the key's inner and outer pads hashed once (RFC 2104), for encrypt_many.
        signing = raw[:16].ljust(64, b"\0")
        self._hmac_inner = hashlib.sha256(bytes(b ^ 0x36 for b in signing))
        self._hmac_outer = hashlib.sha256(bytes(b ^ 0x5C for b in signing))

    def encrypt(self, value: str | None) -> str | None:
        if value is None:
            return None
        return f"{self.key_id}:{self._fernets[self.key_id].encrypt(value.encode('utf-8')).decode('ascii')}"

    def encrypt_many(self, values: Sequence[str | None]) -> list[str | None]:
        """`encrypt` for many values at once, giving the same Fernet tokens (spec: version,
        timestamp, a fresh random IV per value, AES-128-CBC, HMAC-SHA256 over the rest).
        A bulk import encrypts hundreds of thousands of fields, and building a Fernet cipher
        object per field costs more than the encryption, so CBC runs here round by round over
        all values together, the AES block function in one call per round and the chaining
        XOR in Python."""
        plain = [(i, v.encode("utf-8")) for i, v in enumerate(values) if v is not None]
        out: list[str | None] = [None] * len(values)
        if not plain:
            return out
        padded = [p + bytes([16 - len(p) % 16]) * (16 - len(p) % 16) for _, p in plain]
        ivs = os.urandom(16 * len(plain))
        chain = [int.from_bytes(ivs[16 * n : 16 * n + 16], "big") for n in range(len(plain))]
        cipher_blocks: list[list[bytes]] = [[] for _ in plain]
        block = Cipher(self._aes, modes.ECB()).encryptor()  # the raw AES block function
        rounds = max(len(p) for p in padded) // 16
        for r in range(rounds):
            active = [n for n, p in enumerate(padded) if len(p) > 16 * r]
            mixed = b"".join(
                (int.from_bytes(padded[n][16 * r : 16 * r + 16], "big") ^ chain[n]).to_bytes(16, "big") for n in active
            )
            encrypted = block.update(mixed)
            for k, n in enumerate(active):
                c = encrypted[16 * k : 16 * k + 16]
                cipher_blocks[n].append(c)
                chain[n] = int.from_bytes(c, "big")
        header = b"\x80" + struct.pack(">Q", int(time.time()))
        prefix = f"{self.key_id}:"
        for n, (i, _) in enumerate(plain):
            body = header + ivs[16 * n : 16 * n + 16] + b"".join(cipher_blocks[n])
            inner = self._hmac_inner.copy()
            inner.update(body)
            outer = self._hmac_outer.copy()
            outer.update(inner.digest())
            out[i] = prefix + base64.urlsafe_b64encode(body + outer.digest()).decode("ascii")
        return out

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


def load_cipher(purpose: str, key: str) -> FieldCipher | None:
    """The field cipher of a purpose (`contact`, `payment`), loaded once when the service is
    wired. The one policy for keys: a key that is set but is not a Fernet key stops the
    service at start (FieldCipherError), so a typo never meets data; a missing key lets the
    service run (warned here), and whatever needs it is refused: `require_cipher`."""
    if not key:
        log.warning("field key not configured", extra={"purpose": purpose, "setting": key_setting(purpose)})
        return None
    try:
        return FieldCipher(key)
    except FieldCipherError as exc:
        raise FieldCipherError(f"{key_setting(purpose)} is not a Fernet key (urlsafe base64, 32 bytes)") from exc


def require_cipher(cipher: FieldCipher | None, purpose: str) -> FieldCipher:
    """The cipher, or 503 naming the missing setting (a consumer's handler fails the same way)."""
    if cipher is None:
        raise Unavailable(
            f"the {purpose} encryption key is not configured ({key_setting(purpose)}): "
            f"{purpose} details cannot be stored or read"
        )
    return cipher


def key_setting(purpose: str) -> str:
    return f"SIKADER_{purpose.upper()}_KEY"
