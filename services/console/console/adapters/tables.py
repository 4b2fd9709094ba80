"""The console's own table: signed-in sessions. It holds no business data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, MetaData
from sqlmodel import Field, SQLModel

from sikader_shared.db import Timestamp

METADATA = MetaData()


class ConsoleBase(SQLModel):
    metadata = METADATA


class SessionRow(ConsoleBase, table=True):
    """One signed-in browser. The cookie carries a random token; only its SHA-256 is the key
    here, so the table alone opens no session. The API key is encrypted with SESSION_KEY."""

    __tablename__ = "console_sessions"

    token_hash: str = Field(primary_key=True, max_length=64)
    key_ciphertext: str = Field(max_length=1000)
    csrf_token: str = Field(max_length=64)
    person: str = Field(max_length=200)
    client_id: str = Field(max_length=100)
    key_id: str = Field(max_length=64)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Timestamp()
    last_seen_at: datetime = Timestamp(index=True)
    # A one-time message for the next page (post/redirect/get): {"kind": ..., "text": ...}
    flash: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
