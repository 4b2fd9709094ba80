"""ConsoleConfig, built once from the settings: the session cipher, the services' addresses,
the content security policy (which depends on the tile host)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from console.settings import ConsoleSettings
from sikader_shared.crypto import FieldCipher, FieldCipherError

log = logging.getLogger(__name__)

SESSION_KEY_SETTING = "SIKADER_CONSOLE_SESSION_KEY"
SERVICES = ("registry", "certification", "incentives", "notifications")


@dataclass(frozen=True)
class ConsoleConfig:
    settings: ConsoleSettings
    cipher: FieldCipher | None
    service_urls: dict[str, str]
    tile_origin: str  # "" without tiles

    @classmethod
    def from_settings(cls, settings: ConsoleSettings) -> ConsoleConfig:
        urls = {name: str(getattr(settings, f"{name}_url")).rstrip("/") for name in SERVICES}
        return cls(settings, session_cipher(settings.session_key), urls, tile_origin(settings.tile_url))

    def content_security_policy(self) -> str:
        img = "img-src 'self' data:" + (f" {self.tile_origin}" if self.tile_origin else "")
        return "; ".join(
            [
                "default-src 'self'",
                "script-src 'self'",
                "style-src 'self'",
                img,
                "connect-src 'self'",
                "font-src 'self'",
                "object-src 'none'",
                "base-uri 'none'",
                "form-action 'self'",
                "frame-ancestors 'none'",
            ]
        )


def session_cipher(key: str) -> FieldCipher | None:
    """The same policy as the services' field keys: a malformed key stops the start; a missing
    one lets the console run, and sign-in is refused naming the setting."""
    if not key:
        log.warning("session key not configured", extra={"setting": SESSION_KEY_SETTING})
        return None
    try:
        return FieldCipher(key)
    except FieldCipherError as exc:
        raise FieldCipherError(f"{SESSION_KEY_SETTING} is not a Fernet key (urlsafe base64, 32 bytes)") from exc


def tile_origin(tile_url: str) -> str:
    """scheme://host[:port] of the tile URL ("" when empty or not http(s))."""
    parts = urlsplit(tile_url.replace("{s}", "a"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    host = parts.netloc.replace("a.", "*.", 1) if "{s}" in tile_url else parts.netloc
    return f"{parts.scheme}://{host}"


def get_config(request: Request) -> ConsoleConfig:
    config: ConsoleConfig = request.app.state.config
    return config


ConfigDep = Annotated[ConsoleConfig, Depends(get_config)]
