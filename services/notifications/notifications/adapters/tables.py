"""Tables of the notifications service (schema: migrations/versions/0002_notifications.py).

Contact details are kept as the encrypted tokens received on the private topic (phone and
email only: the address is never needed to deliver) and decrypted just before sending."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from sikader_shared.db import BigIntPK, Timestamp


class CadreRow(SQLModel, table=True):
    """Projection of the registry's public cadre events (name, roles, area, Posyandu)."""

    __tablename__ = "ntf_cadres"

    cadre_id: str = Field(primary_key=True, max_length=36)
    name: str | None = Field(default=None, max_length=200)
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=20)
    posyandu_id: str | None = Field(default=None, max_length=36, index=True)
    posyandu_role: str | None = Field(default=None, max_length=50)
    kelurahan_code: str | None = Field(default=None, max_length=20, index=True)
    kecamatan_code: str | None = Field(default=None, max_length=20, index=True)
    version_at: datetime = Timestamp()


class ContactRow(SQLModel, table=True):
    """The minimum for delivery, still encrypted with the contact key."""

    __tablename__ = "ntf_cadre_contacts"

    cadre_id: str = Field(primary_key=True, max_length=36)
    phone_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    email_enc: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    changed_at: datetime = Timestamp()


class PosyanduRow(SQLModel, table=True):
    """Projection of the registry's Posyandu events: name, area, Puskesmas, head cadre."""

    __tablename__ = "ntf_posyandu"

    posyandu_id: str = Field(primary_key=True, max_length=36)
    name: str | None = Field(default=None, max_length=200)
    kelurahan_code: str | None = Field(default=None, max_length=20)
    kecamatan_code: str | None = Field(default=None, max_length=20)
    puskesmas: str | None = Field(default=None, max_length=200)
    head_cadre_id: str | None = Field(default=None, max_length=36)
    version_at: datetime = Timestamp()


class OptOutRow(SQLModel, table=True):
    """A cadre who unsubscribed from a channel (through the signed link in a message)."""

    __tablename__ = "ntf_opt_outs"

    cadre_id: str = Field(primary_key=True, max_length=36)
    channel: str = Field(primary_key=True, max_length=20)
    at: datetime = Timestamp()


class ReceivedEventRow(SQLModel, table=True):
    """Every public event received, kept for re-delivery of history to subscribers."""

    __tablename__ = "ntf_received_events"

    seq: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    event_id: str = Field(max_length=100, unique=True)
    ce_type: str = Field(max_length=200, index=True)
    subject: str = Field(max_length=200)
    time: datetime = Timestamp(index=True)
    headers: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    payload: str = Field(sa_column=Column(Text, nullable=False))
    kecamatan_code: str | None = Field(default=None, max_length=20)
    kelurahan_code: str | None = Field(default=None, max_length=20)
    received_at: datetime = Timestamp()


@dataclass(frozen=True)
class KeptEvent:
    """What planning needs of a just-kept event (kept with a bulk insert: no ORM object)."""

    seq: int
    event_id: str
    ce_type: str
    subject: str
    kecamatan_code: str | None
    kelurahan_code: str | None
    received_at: datetime


class SubscriptionRow(SQLModel, table=True):
    """An outside system's webhook subscription, owned by one OPD client."""

    __tablename__ = "ntf_subscriptions"

    id: str = Field(primary_key=True, max_length=36)
    client_id: str = Field(max_length=100, index=True)
    url: str = Field(max_length=2000)
    # Standard Webhooks `whsec_` secrets: the current one, and the one it replaced while its
    # rotation's grace period lasts (both sign). `legacy_secret` is a client-chosen secret of a
    # subscription made before Standard Webhooks (as `whsec_`): it signs the deprecated
    # X-Sikader-* headers until `legacy_until` (none: until the secret is rotated).
    secret: str = Field(max_length=400)
    previous_secret: str | None = Field(default=None, max_length=400)
    previous_until: datetime | None = Timestamp(nullable=True)
    legacy_secret: str | None = Field(default=None, max_length=400)
    legacy_until: datetime | None = Timestamp(nullable=True)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    kecamatan_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kelurahan_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="active", max_length=20)  # active / paused
    created_at: datetime = Timestamp()
    updated_at: datetime = Timestamp()


class DeliveryRow(SQLModel, table=True):
    """One (event, recipient, channel): attempted until delivered, given up or skipped.
    `lane` is the recipient's queue and `aggregate_key` the event's aggregate: within a lane
    an aggregate's deliveries go strictly in `seq` order."""

    __tablename__ = "ntf_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "source_key", "recipient_type", "recipient_id", "channel", "replay_id", name="uq_delivery_target"
        ),
        Index("ix_ntf_deliveries_due", "status", "next_attempt_at"),
        Index("ix_ntf_deliveries_lane", "lane", "aggregate_key", "status", "seq"),
        # pending ones in order (migration 0005): a lane's claim and the tick stop at their limit
        Index(
            "ix_ntf_deliveries_pending_lane",
            "lane",
            "seq",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index(
            "ix_ntf_deliveries_pending_seq",
            "seq",
            "id",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigIntPK, primary_key=True, autoincrement=True))
    notification_id: str = Field(max_length=36, unique=True)
    source_key: str = Field(max_length=100)  # the source event id, or "broadcast:<id>"
    recipient_type: str = Field(max_length=30)
    recipient_id: str = Field(max_length=200)
    channel: str = Field(max_length=20)
    replay_id: str = Field(default="", max_length=36)  # "" first delivery; a re-delivery's id
    source_event_id: str | None = Field(default=None, max_length=100, index=True)
    source_event_type: str | None = Field(default=None, max_length=200)
    subscription_id: str | None = Field(default=None, max_length=36, index=True)
    broadcast_id: str | None = Field(default=None, max_length=36, index=True)
    template: str | None = Field(default=None, max_length=100)
    language: str = Field(default="id", max_length=5)
    lane: str = Field(max_length=300)
    aggregate_key: str = Field(max_length=200)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    status: str = Field(default="pending", max_length=20)  # pending / delivered / failed / skipped
    attempts: int = 0
    next_attempt_at: datetime = Timestamp()
    last_attempt_at: datetime | None = Timestamp(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Timestamp()
    delivered_at: datetime | None = Timestamp(nullable=True)
    failed_at: datetime | None = Timestamp(nullable=True)


class BroadcastRow(SQLModel, table=True):
    """A programme announcement to cadres by area and role."""

    __tablename__ = "ntf_broadcasts"

    id: str = Field(primary_key=True, max_length=36)
    client_id: str = Field(max_length=100, index=True)
    title: str = Field(max_length=200)
    message: str = Field(sa_column=Column(Text, nullable=False))
    channels: list[str] = Field(sa_column=Column(JSON, nullable=False))
    kecamatan_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    kelurahan_codes: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    roles: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    rate_per_minute: int
    recipients: int = 0
    status: str = Field(default="sending", max_length=20)  # sending / completed
    tally: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Timestamp()
    completed_at: datetime | None = Timestamp(nullable=True)
