"""What incentives knows about cadres, Posyandu and certificates, built only from events.

Each `apply_*` function takes the current facts (or None) and one event with its envelope,
and returns the new facts. Facts keep the id of the event they came from (for the reasons
of a decision) and the event time per group of facts, so that an older event that arrives
late (re-published after a newer one) never overwrites newer facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from incentives.domain.periods import wita_date
from incentives.domain.policy import LEVEL_RANK
from sikader_shared import events as ev
from sikader_shared.clock import utc
from sikader_shared.envelope import Envelope

CADRE_EVENTS = (ev.CadreRegistered, ev.CadreUpdated, ev.CadreAssigned, ev.CadreDeactivated, ev.CadreReactivated)
POSYANDU_EVENTS = (
    ev.PosyanduRegistered,
    ev.PosyanduUpdated,
    ev.PosyanduFacilityAssessed,
    ev.PosyanduFacilityVerified,
    ev.PosyanduFacilityRejected,
    ev.PosyanduClosed,
)
CERTIFICATE_EVENTS = (
    ev.CadreCertified,
    ev.CertificateSuperseded,
    ev.CertificateSuspended,
    ev.CertificateRenewed,
    ev.CertificateExpiring,
    ev.CertificateExpired,
    ev.CertificateRevoked,
)

F = TypeVar("F")


def replace(facts: F, **changes: object) -> F:
    """dataclasses.replace for these frozen facts without its per-call field walk (the fold
    calls it a few times per consumed event): a copy of the instance's fields, changed."""
    if not changes.keys() <= facts.__dict__.keys():
        raise TypeError(f"{type(facts).__name__} has no field {sorted(changes.keys() - facts.__dict__.keys())}")
    new = object.__new__(type(facts))
    new.__dict__.update(facts.__dict__, **changes)
    return new


def _newer(at: datetime, stored: datetime | None) -> bool:
    return stored is None or utc(at) >= utc(stored)


@dataclass(frozen=True)
class CadreFacts:
    cadre_id: str
    name: str = ""
    kelurahan_code: str = ""
    kecamatan_code: str = ""
    posyandu_id: str | None = None
    status: str = "active"
    registered_on: date | None = None
    joined_on: date | None = None
    deactivated_on: date | None = None
    reactivated_on: date | None = None
    status_event_id: str | None = None
    status_at: datetime | None = None
    assignment_event_id: str | None = None
    assignment_at: datetime | None = None


@dataclass(frozen=True)
class PosyanduFacts:
    posyandu_id: str
    name: str = ""
    kelurahan_code: str = ""
    kecamatan_code: str = ""
    status: str = "active"
    closed_on: date | None = None
    verification_status: str = "PENDING"
    verification_on: date | None = None
    verification_event_id: str | None = None
    verification_at: datetime | None = None
    status_event_id: str | None = None
    status_at: datetime | None = None
    verification_event_type: str | None = None  # the event_name behind verification_event_id


@dataclass(frozen=True)
class CertificateFacts:
    certificate_id: str
    cadre_id: str
    certificate_number: str
    level: str
    level_rank: int
    status: str
    expires_on: date
    status_on: date | None = None
    valid_from: date | None = None
    issued_on: date | None = None
    event_id: str | None = None
    event_at: datetime | None = None


@dataclass(frozen=True)
class PaymentDetails:
    """Tokens as received (encrypted with the payment key); decrypted only for the payment file."""

    cadre_id: str
    method: str | None
    bank_enc: str | None
    account_number_enc: str | None
    account_holder_enc: str | None
    changed_at: datetime
    event_id: str


# --------------------------------------------------------------------------- cadres


def apply_cadre_event(facts: CadreFacts | None, event: ev.Event, env: Envelope) -> CadreFacts:
    assert isinstance(event, CADRE_EVENTS)
    f = facts or CadreFacts(cadre_id=event.cadre_id)
    at = env.time
    if isinstance(event, ev.CadreRegistered | ev.CadreUpdated):
        f = replace(f, name=event.name, joined_on=event.joined_on or f.joined_on)
        if isinstance(event, ev.CadreRegistered):
            f = replace(f, registered_on=wita_date(event.registered_at))
        elif f.registered_on is None:
            f = replace(f, registered_on=wita_date(event.updated_at))
        if _newer(at, f.assignment_at):
            changed = event.posyandu_id != f.posyandu_id or f.assignment_event_id is None
            f = replace(
                f,
                posyandu_id=event.posyandu_id,
                kelurahan_code=event.kelurahan_code,
                kecamatan_code=event.kecamatan_code,
                assignment_at=at,
                assignment_event_id=env.id if changed else f.assignment_event_id,
            )
        if _newer(at, f.status_at):
            day = wita_date(at)
            if event.status != f.status or f.status_event_id is None:
                if event.status == "inactive":
                    f = replace(f, deactivated_on=day)
                elif f.status == "inactive":
                    f = replace(f, reactivated_on=day)
                f = replace(f, status=event.status, status_event_id=env.id)
            f = replace(f, status_at=at)
        return f
    if isinstance(event, ev.CadreAssigned):
        if not event.primary or not _newer(at, f.assignment_at):
            return f
        return replace(
            f,
            posyandu_id=event.posyandu_id,
            kelurahan_code=event.kelurahan_code,
            kecamatan_code=event.kecamatan_code,
            assignment_at=at,
            assignment_event_id=env.id,
        )
    if not _newer(at, f.status_at):
        return f
    if isinstance(event, ev.CadreDeactivated):
        return replace(f, status="inactive", deactivated_on=event.effective_on, status_event_id=env.id, status_at=at)
    assert isinstance(event, ev.CadreReactivated)
    return replace(f, status="active", reactivated_on=event.effective_on, status_event_id=env.id, status_at=at)


# --------------------------------------------------------------------------- Posyandu


def apply_posyandu_event(facts: PosyanduFacts | None, event: ev.Event, env: Envelope) -> PosyanduFacts:
    assert isinstance(event, POSYANDU_EVENTS)
    f = facts or PosyanduFacts(posyandu_id=event.posyandu_id)
    at = env.time
    f = replace(f, kelurahan_code=event.kelurahan_code, kecamatan_code=event.kecamatan_code)
    name = getattr(event, "name", None)
    if name:
        f = replace(f, name=name)

    def verification(status: str, day: date) -> PosyanduFacts:
        if not _newer(at, f.verification_at):
            return f
        if status == f.verification_status and f.verification_event_id is not None:
            return replace(f, verification_at=at)
        return replace(
            f,
            verification_status=status,
            verification_on=day,
            verification_event_id=env.id,
            verification_at=at,
            verification_event_type=event.event_name,
        )

    if isinstance(event, ev.PosyanduRegistered | ev.PosyanduUpdated):
        f = verification(event.verification_status, wita_date(at))
        if _newer(at, f.status_at) and (event.status != f.status or f.status_event_id is None):
            closed_on = wita_date(at) if event.status != "active" else None
            f = replace(f, status=event.status, closed_on=closed_on, status_event_id=env.id, status_at=at)
        return f
    if isinstance(event, ev.PosyanduFacilityAssessed):
        return verification(event.verification_status, event.assessed_on)
    if isinstance(event, ev.PosyanduFacilityVerified):
        return verification("VERIFIED", wita_date(event.verified_at))
    if isinstance(event, ev.PosyanduFacilityRejected):
        return verification("REJECTED", wita_date(event.rejected_at))
    assert isinstance(event, ev.PosyanduClosed)
    if not _newer(at, f.status_at):
        return f
    return replace(f, status=event.closure, closed_on=event.closed_on, status_event_id=env.id, status_at=at)


# --------------------------------------------------------------------------- certificates


def apply_certificate_event(facts: CertificateFacts | None, event: ev.Event, env: Envelope) -> CertificateFacts:
    assert isinstance(event, CERTIFICATE_EVENTS)
    at = env.time
    if facts is not None and not _newer(at, facts.event_at):
        return facts
    f = facts or CertificateFacts(
        certificate_id=event.certificate_id,
        cadre_id=event.cadre_id,
        certificate_number=event.certificate_number,
        level=event.level,
        level_rank=LEVEL_RANK[event.level],
        status=event.status,
        expires_on=event.expires_on,
    )
    # Every certificate event carries the certificate's state after it (see the contract).
    f = replace(
        f,
        certificate_number=event.certificate_number,
        level=event.level,
        level_rank=LEVEL_RANK[event.level],
        expires_on=event.expires_on,
    )
    if isinstance(event, ev.CertificateExpiring):
        return replace(f, event_at=at)  # an announcement: no change of status, not a fact we cite
    day: date
    if isinstance(event, ev.CadreCertified):
        day = event.issued_on
        f = replace(f, issued_on=event.issued_on, valid_from=f.valid_from or event.issued_on)
    elif isinstance(event, ev.CertificateSuperseded):
        day = event.superseded_on
    elif isinstance(event, ev.CertificateSuspended):
        day = event.suspended_on
    elif isinstance(event, ev.CertificateRenewed):
        day = event.renewed_on
        if f.status != "valid" or event.basis == "reactivation":
            f = replace(f, valid_from=event.renewed_on)  # valid again from the renewal, not before
    elif isinstance(event, ev.CertificateExpired):
        day = event.expired_on
    else:
        assert isinstance(event, ev.CertificateRevoked)
        day = wita_date(event.revoked_at)
    return replace(f, status=event.status, status_on=day, event_id=env.id, event_at=at)


def apply_payment_details(event: ev.CadrePaymentDetailsChanged, env: Envelope) -> PaymentDetails:
    return PaymentDetails(
        cadre_id=event.cadre_id,
        method=event.method,
        bank_enc=event.bank_enc,
        account_number_enc=event.account_number_enc,
        account_holder_enc=event.account_holder_enc,
        changed_at=event.changed_at,
        event_id=env.id,
    )
