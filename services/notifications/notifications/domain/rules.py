"""Routing rules as data: which event notifies whom, through which channel, with which
template. The defaults live in `notifications/data/rules.json`; an operator can point
`SIKADER_NOTIFICATIONS_RULES_FILE` at another file of the same shape."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

RecipientKind = Literal["cadre", "head_cadre", "puskesmas", "opd_inbox"]
MessageChannel = Literal["email", "sms", "whatsapp"]
Language = Literal["id", "en"]

DEFAULT_RULES_FILE = Path(__file__).resolve().parent.parent / "data" / "rules.json"


class Rule(BaseModel):
    """One routing line: on `event` (the event name, e.g. CadreCertified), tell
    `recipient` through each of `channels` with `template`, when every `when` field of the
    event equals the given value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str = Field(description="Event name, e.g. 'CadreCertified'")
    recipient: RecipientKind
    channels: list[MessageChannel] = Field(min_length=1)
    template: str = Field(description="Template code, e.g. 'cadre_certified'")
    when: dict[str, Any] = Field(default_factory=dict, description="Field equality conditions on the event")

    def applies_to(self, event_name: str, payload: Mapping[str, Any]) -> bool:
        return self.event == event_name and all(payload.get(k) == v for k, v in self.when.items())


class OpdInbox(BaseModel):
    """A configured agency mailbox (e.g. Dinkes' cadre desk). `events` empty = every event
    that has an opd_inbox rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=50)
    email: str = Field(min_length=3, max_length=320)
    language: Language = "id"
    events: list[str] = Field(default_factory=list)

    def wants(self, event_name: str) -> bool:
        return not self.events or event_name in self.events


_RULES = TypeAdapter(list[Rule])


def load_rules(path: str | Path | None = None) -> list[Rule]:
    source = Path(path) if path else DEFAULT_RULES_FILE
    return _RULES.validate_python(json.loads(source.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class Audience:
    """Who can be reached about one event, as resolved from the projections."""

    cadre_id: str | None = None
    head_cadre_id: str | None = None
    puskesmas: str | None = None  # a Puskesmas with a configured mailbox
    puskesmas_email_known: bool = False


@dataclass(frozen=True)
class PlannedMessage:
    recipient_type: RecipientKind
    recipient_id: str
    channel: MessageChannel
    template: str
    language: Language


def plan_messages(
    rules: Sequence[Rule],
    event_name: str,
    payload: Mapping[str, Any],
    audience: Audience,
    inboxes: Iterable[OpdInbox],
) -> list[PlannedMessage]:
    """Every (recipient, channel) the rules ask for, once each. The head cadre is left out
    when he or she is the cadre the event is about (the cadre already hears it)."""
    out: dict[tuple[str, str, str], PlannedMessage] = {}
    inbox_list = list(inboxes)
    for rule in rules:
        if not rule.applies_to(event_name, payload):
            continue
        targets: list[tuple[str, Language]] = []
        if rule.recipient == "cadre" and audience.cadre_id:
            targets = [(audience.cadre_id, "id")]
        elif rule.recipient == "head_cadre" and audience.head_cadre_id and audience.head_cadre_id != audience.cadre_id:
            targets = [(audience.head_cadre_id, "id")]
        elif rule.recipient == "puskesmas" and audience.puskesmas and audience.puskesmas_email_known:
            targets = [(audience.puskesmas, "id")]
        elif rule.recipient == "opd_inbox":
            targets = [(inbox.id, inbox.language) for inbox in inbox_list if inbox.wants(event_name)]
        for recipient_id, language in targets:
            channels: Sequence[MessageChannel] = rule.channels
            if rule.recipient in ("puskesmas", "opd_inbox"):
                channels = [c for c in rule.channels if c == "email"]  # agency mailboxes only
            for channel in channels:
                key = (rule.recipient, recipient_id, channel)
                out.setdefault(key, PlannedMessage(rule.recipient, recipient_id, channel, rule.template, language))
    return list(out.values())
