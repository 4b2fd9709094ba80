"""Events of the notifications service on `sikader.notifications.v1` (key
`notification_id`): the outcome of each (event, recipient, channel) delivery.

Recipients are named by id (cadre, subscription, OPD inbox), never by phone number, email
address or URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from sikader_shared import topics
from sikader_shared.events.base import Event, register

Channel = Literal["email", "webhook", "sms", "whatsapp"]


class _NotificationEvent(Event):
    service = "notifications"
    topic = topics.NOTIFICATIONS
    aggregate_field = "notification_id"

    notification_id: str = Field(
        description="Id (UUID) of one delivery: one event to one recipient through one channel"
    )
    source_event_id: str | None = Field(
        default=None, description="ce_id of the event notified about (None for a broadcast)"
    )
    source_event_type: str | None = Field(
        default=None,
        description="ce_type of that event, e.g. sikader.certification.CadreCertified.v1",
    )
    channel: Channel = Field(description="Delivery channel")
    recipient_type: str = Field(description="e.g. 'cadre', 'head_cadre', 'puskesmas', 'opd_inbox', 'subscription'")
    recipient_id: str | None = Field(
        default=None, description="cadre_id, subscription id or inbox id; never a contact detail"
    )
    subscription_id: str | None = Field(default=None, description="The outside subscription, for webhook deliveries")
    broadcast_id: str | None = Field(default=None, description="The broadcast, if part of one")
    template: str | None = Field(default=None, description="Template code used")
    attempts: int = Field(ge=1, description="Delivery attempts made, this one included")


@register
class NotificationDelivered(_NotificationEvent):
    """A notification was delivered (accepted by the SMTP server, gateway or webhook)."""

    event_name = "NotificationDelivered"

    delivered_at: datetime


@register
class NotificationFailed(_NotificationEvent):
    """A notification was given up after its retries."""

    event_name = "NotificationFailed"

    reason: str = Field(description="Why it failed; contains no contact details")
    failed_at: datetime
