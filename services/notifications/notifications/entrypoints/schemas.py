"""Request and response models of the HTTP API (with OpenAPI examples)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from sikader_shared.clock import utc

# A time read back from the database, answered as aware UTC (SQLite drops the zone).
UtcDatetime = Annotated[datetime, AfterValidator(utc)]
KecamatanCode = Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}\.\d{2}$")]
KelurahanCode = Annotated[str, StringConstraints(pattern=r"^\d{2}\.\d{2}\.\d{2}\.\d{4}$")]
MessageChannel = Literal["email", "sms", "whatsapp"]
EXAMPLE_SUB_ID = "3f6c1a52-8a0e-4a4b-9d61-2b7f0c9e4d11"


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://sim.dinkes.balikpapan.go.id/hooks/sikader",
                    "event_types": ["CadreCertified", "CertificateRevoked"],
                    "kecamatan_codes": ["64.71.01"],
                    "kelurahan_codes": [],
                    "description": "SIM Dinkes: kader tersertifikasi",
                }
            ]
        },
    )

    url: AnyHttpUrl = Field(description="Where events are POSTed (https in production)")
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=200,
        json_schema_extra={"deprecated": True},
        description="Deprecated, accepted until 2027-03-31: leave it out and the service generates a whsec_ "
        "secret. A client-chosen secret also gets the deprecated X-Sikader-* headers; its whsec_ form (the "
        "same key) is in the answer",
    )
    event_types: list[str] = Field(
        min_length=1, max_length=50, description="Event names ('CadreCertified') or ce_types"
    )
    kecamatan_codes: list[KecamatanCode] = Field(default_factory=list, max_length=100)
    kelurahan_codes: list[KelurahanCode] = Field(default_factory=list, max_length=500)
    description: str | None = Field(default=None, max_length=500)


SUBSCRIPTION_EXAMPLE: dict[str, Any] = {
    "id": EXAMPLE_SUB_ID,
    "client_id": "dinkes",
    "url": "https://sim.dinkes.balikpapan.go.id/hooks/sikader",
    "description": "SIM Dinkes: kader tersertifikasi",
    "event_types": ["sikader.certification.CadreCertified.v1"],
    "kecamatan_codes": ["64.71.01"],
    "kelurahan_codes": [],
    "status": "active",
    "created_at": "2026-12-01T02:00:00Z",
    "updated_at": "2026-12-01T02:00:00Z",
}


class SubscriptionPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [SUBSCRIPTION_EXAMPLE]})

    id: str
    client_id: str
    url: str
    description: str | None
    event_types: list[str] = Field(description="ce_types")
    kecamatan_codes: list[str]
    kelurahan_codes: list[str]
    status: Literal["active", "paused"]
    created_at: UtcDatetime
    updated_at: UtcDatetime


WHSEC_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET_DESCRIPTION = (
    "The Standard Webhooks signing secret (whsec_ + base64 of 32 random bytes): shown only in this answer"
)


class SubscriptionCreated(SubscriptionPublic):
    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"examples": [{**SUBSCRIPTION_EXAMPLE, "secret": WHSEC_EXAMPLE}]}
    )

    secret: str = Field(description=SECRET_DESCRIPTION)


class SecretRotated(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"id": EXAMPLE_SUB_ID, "secret": WHSEC_EXAMPLE, "previous_secret_expires_at": "2026-12-02T02:00:00Z"}
            ]
        }
    )

    id: str
    secret: str = Field(description=SECRET_DESCRIPTION)
    previous_secret_expires_at: UtcDatetime = Field(
        description="Until then webhook-signature carries a second signature, by the replaced secret"
    )


class SubscriptionDeleted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": EXAMPLE_SUB_ID, "deleted": True, "pending_skipped": 0}]}
    )

    id: str
    deleted: bool
    pending_skipped: int


class DeliveryPublic(BaseModel):
    """One delivery. Recipients are named by id, never by address."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "notification_id": "0b8f7d2e-4a55-4d8e-a0f3-9e2c4b1d7a60",
                    "source_event_id": "6a1f...",
                    "source_event_type": "sikader.certification.CadreCertified.v1",
                    "recipient_type": "subscription",
                    "recipient_id": EXAMPLE_SUB_ID,
                    "channel": "webhook",
                    "replay_id": None,
                    "broadcast_id": None,
                    "status": "delivered",
                    "attempts": 2,
                    "last_error": None,
                    "next_attempt_at": None,
                    "created_at": "2026-12-01T02:00:00Z",
                    "delivered_at": "2026-12-01T02:00:31Z",
                    "failed_at": None,
                }
            ]
        },
    )

    notification_id: str
    source_event_id: str | None
    source_event_type: str | None
    recipient_type: str
    recipient_id: str
    channel: str
    replay_id: str | None
    broadcast_id: str | None
    status: Literal["pending", "delivered", "failed", "skipped"]
    attempts: int
    last_error: str | None
    next_attempt_at: UtcDatetime | None  # only while pending
    created_at: UtcDatetime
    delivered_at: UtcDatetime | None
    failed_at: UtcDatetime | None

    @field_validator("replay_id", mode="before")
    @classmethod
    def _first_delivery_has_no_replay(cls, value: str | None) -> str | None:
        return value or None  # stored as "" (a unique key part), shown as null

    @model_validator(mode="after")
    def _next_attempt_only_while_pending(self) -> DeliveryPublic:
        if self.status != "pending":
            self.next_attempt_at = None
        return self


class RedeliverRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"since": "2026-11-01T00:00:00+08:00", "event_types": ["CadreCertified"]}]},
    )

    since: AwareDatetime = Field(description="Re-deliver events from this time (event time, with a zone)")
    until: AwareDatetime | None = Field(default=None, description="... up to (excluding) this time")
    event_types: list[str] = Field(
        default_factory=list, max_length=50, description="A subset of the subscription's types; empty = all"
    )


class RedeliverResult(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "subscription_id": EXAMPLE_SUB_ID,
                    "replay_id": "9d2b...",
                    "since": "2026-10-31T16:00:00Z",
                    "until": None,
                    "queued": 42,
                }
            ]
        }
    )

    subscription_id: str
    replay_id: str
    since: datetime
    until: datetime | None
    queued: int


class BroadcastCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Sekolah Rakyat: beasiswa penuh",
                    "message": "Sekolah Rakyat adalah program beasiswa penuh (asrama, makan, seragam), bukan "
                    "sekolah dasar model lama. Mohon sampaikan kepada keluarga yang membutuhkan.",
                    "channels": ["whatsapp", "email"],
                    "kecamatan_codes": ["64.71.05"],
                    "kelurahan_codes": [],
                    "roles": ["posyandu_cadre"],
                    "rate_per_minute": 60,
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    message: str = Field(min_length=1, max_length=2000)
    channels: list[MessageChannel] = Field(min_length=1, max_length=3)
    kecamatan_codes: list[KecamatanCode] = Field(default_factory=list, max_length=100)
    kelurahan_codes: list[KelurahanCode] = Field(default_factory=list, max_length=500)
    roles: list[str] = Field(
        default_factory=list, max_length=20, description="Cadre roles or Posyandu roles ('ketua'); empty = all"
    )
    rate_per_minute: StrictInt | None = Field(  # strict: JSON true is not 1 message a minute
        default=None, ge=1, description="Messages per minute; default from settings"
    )


class BroadcastStarted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "5c0d...", "recipients": 120, "messages": 240, "status": "sending"}]}
    )

    id: str
    recipients: int = Field(description="Cadres addressed")
    messages: int = Field(description="Messages queued (cadres x channels, less opt-outs and missing addresses)")
    status: Literal["sending", "completed"]


class BroadcastPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5c0d...",
                    "client_id": "dinsos",
                    "title": "Sekolah Rakyat: beasiswa penuh",
                    "channels": ["whatsapp"],
                    "kecamatan_codes": ["64.71.05"],
                    "kelurahan_codes": [],
                    "roles": ["posyandu_cadre"],
                    "rate_per_minute": 60,
                    "recipients": 120,
                    "status": "sending",
                    "progress": {"pending": 80, "delivered": 38, "failed": 0, "skipped": 2},
                    "tally": None,
                    "created_at": "2026-12-01T02:00:00Z",
                    "completed_at": None,
                }
            ]
        }
    )

    id: str
    client_id: str
    title: str
    channels: list[str]
    kecamatan_codes: list[str]
    kelurahan_codes: list[str]
    roles: list[str]
    rate_per_minute: int
    recipients: int
    status: Literal["sending", "completed"]
    progress: dict[str, int] = Field(description="Messages by state, now")
    tally: dict[str, int] | None = Field(description="Final counts, once completed")
    created_at: UtcDatetime
    completed_at: UtcDatetime | None


class RulesPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rules": [
                        {
                            "event": "CadreCertified",
                            "recipient": "cadre",
                            "channels": ["email", "whatsapp"],
                            "template": "cadre_certified",
                            "when": {},
                        }
                    ],
                    "opd_inboxes": [{"id": "dinkes", "language": "en", "events": []}],
                    "puskesmas_inboxes": ["Puskesmas Klandasan Ilir"],
                    "templates": {"id": ["cadre_certified"], "en": ["cadre_certified_notice"]},
                    "subscribable_event_types": ["CadreCertified"],
                }
            ]
        }
    )

    rules: list[dict[str, Any]]
    opd_inboxes: list[dict[str, Any]]
    puskesmas_inboxes: list[str]
    templates: dict[str, list[str]]
    subscribable_event_types: list[str]
