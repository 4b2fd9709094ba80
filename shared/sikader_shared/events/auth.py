"""Events on `sikader.auth.v1`: API keys carry only hashes and scopes, never the key."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from sikader_shared import topics
from sikader_shared.events.base import Event, register


class _AuthEvent(Event):
    service = "auth"
    topic = topics.AUTH
    aggregate_field = "key_id"


@register
class ApiKeyIssued(_AuthEvent):
    event_name = "ApiKeyIssued"

    key_id: str = Field(description="Public identifier of the key (the prefix of the key)")
    client_id: str = Field(description="The OPD client the key belongs to, e.g. 'dinkes'")
    key_hash: str = Field(description="SHA-256 hex digest of the full key")
    scopes: list[str]
    label: str = ""
    issued_at: datetime


@register
class ApiKeyRevoked(_AuthEvent):
    event_name = "ApiKeyRevoked"

    key_id: str
    client_id: str
    revoked_at: datetime
    reason: str = ""
