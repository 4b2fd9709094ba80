"""Certificate rules: numbers, validity, what a change of badges means for the current
certificate, the expiry schedule, public verification status and the masked holder name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

from certification.domain.levels import LevelName, rank
from sikader_shared.clock import WITA
from sikader_shared.events import CertificateExpired, CertificateExpiring, CertificateRenewed

Status = Literal["valid", "suspended", "superseded", "expired", "revoked"]
VerifyStatus = Literal["valid", "expired", "revoked", "suspended", "superseded", "unknown"]
Decision = Literal["issue", "renew", "none"]
ExpiryAction = Literal["expire", "announce"]

# A cadre has at most one certificate in one of these states at a time: the current one.
CURRENT_STATUSES: tuple[Status, ...] = ("valid", "suspended", "expired")
REVOCABLE: tuple[Status, ...] = ("valid", "suspended", "expired")
SUSPENDED_BY_DEACTIVATION = "cadre_deactivated"


def local_date(now: datetime) -> date:
    """Today in Balikpapan (WITA): dates on certificates are local calendar dates."""
    return now.astimezone(WITA).date()


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February -> 28 February
        return day.replace(year=day.year + years, day=28)


def expiry_date(issued_on: date, validity_years: int) -> date:
    return add_years(issued_on, validity_years)


def certificate_number(region_code: str, year: int, level: str, sequence: int) -> str:
    """Human-readable and unique: SKD/<region>/<year>/<LEVEL>/<6-digit yearly sequence>."""
    return f"SKD/{region_code}/{year}/{level.upper()}/{sequence:06d}"


class CertificateState(Protocol):
    """A certificate as the rules read it (a stored row fits)."""

    @property
    def cadre_id(self) -> str: ...
    @property
    def certificate_id(self) -> str: ...
    @property
    def number(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def expires_on(self) -> date: ...


class Holder(Protocol):
    """The holder's area, carried on every certificate event for area filters."""

    @property
    def kelurahan_code(self) -> str | None: ...
    @property
    def kecamatan_code(self) -> str | None: ...


def certificate_fields(cert: CertificateState, holder: Holder) -> dict[str, Any]:
    """What every certificate event carries: the certificate's state after the event."""
    return {
        "cadre_id": cert.cadre_id,
        "kelurahan_code": holder.kelurahan_code,
        "kecamatan_code": holder.kecamatan_code,
        "certificate_id": cert.certificate_id,
        "certificate_number": cert.number,
        "level": cert.level,
        "status": cert.status,
        "expires_on": cert.expires_on,
    }


@dataclass(frozen=True)
class CurrentCertificate:
    level: LevelName
    status: Status
    expires_on: date


def decide_after_assessment(
    current: CurrentCertificate | None, reached: LevelName | None, passed_any: bool
) -> Decision:
    """What an assessment means for the cadre's certificate.

    A new certificate when a level is first reached (or a higher one); a renewal when a
    passed re-assessment confirms the current level; nothing for a failed-only assessment.
    A suspended certificate is never renewed here (its holder is inactive and cannot be
    assessed); a revoked one is no longer current, so a new pass issues a new certificate."""
    if reached is None or not passed_any:
        return "none"
    if current is None or rank(reached) > rank(current.level):
        return "issue"
    if current.status in ("valid", "expired"):
        return "renew"
    return "none"


def renewed_expiry(current_expires_on: date, renewed_on: date, validity_years: int) -> date:
    """A renewal never shortens validity."""
    return max(current_expires_on, expiry_date(renewed_on, validity_years))


def expiry_action(
    status: str, expires_on: date, announced_for: date | None, today: date, notice_days: int
) -> ExpiryAction | None:
    """The scheduler's decision for one certificate: expire on the date, announce once
    `notice_days` ahead (once per expiry date: a renewal moves the date and re-arms it)."""
    if status != "valid":
        return None
    if today >= expires_on:
        return "expire"
    if (expires_on - today).days <= notice_days and announced_for != expires_on:
        return "announce"
    return None


def status_on_restore(expires_on: date, today: date) -> Status:
    """A suspended certificate whose date passed while suspended comes back expired."""
    return "expired" if today >= expires_on else "valid"


def restoration_event(cert: CertificateState, holder: Holder, today: date) -> CertificateRenewed | CertificateExpired:
    """The event of a certificate restored with its holder (its status already restored).
    The contract has no CertificateRestored: a restoration is a renewal by reactivation,
    or the expiry that fell while it was suspended."""
    if cert.status == "valid":
        return CertificateRenewed(
            **certificate_fields(cert, holder),
            basis="reactivation",
            previous_expires_on=cert.expires_on,
            renewed_on=today,
        )
    return CertificateExpired(**certificate_fields(cert, holder), expired_on=cert.expires_on)


def expiry_event(
    action: ExpiryAction, cert: CertificateState, holder: Holder, today: date
) -> CertificateExpired | CertificateExpiring:
    """The event of the scheduler's decision (the certificate's state already changed)."""
    if action == "expire":
        return CertificateExpired(**certificate_fields(cert, holder), expired_on=cert.expires_on)
    return CertificateExpiring(**certificate_fields(cert, holder), days_left=(cert.expires_on - today).days)


def verification_status(status: str | None, expires_on: date | None, today: date) -> VerifyStatus:
    """Public status: a valid certificate past its date reads expired even before the
    scheduler has run."""
    if status is None or expires_on is None:
        return "unknown"
    if status == "valid" and today >= expires_on:
        return "expired"
    if status in ("valid", "expired", "revoked", "suspended", "superseded"):
        return status  # type: ignore[return-value]
    return "unknown"


def mask_name(name: str) -> str:
    """'Siti Aminah' -> 'Siti A***h': the first name in full, the rest reduced to their
    first and last letters, so a holder can be recognised but not looked up."""
    words = name.split()
    if not words:
        return ""

    def mask(word: str) -> str:
        return word[0] + "***" + (word[-1] if len(word) >= 3 else "")

    if len(words) == 1:
        return mask(words[0])
    return " ".join([words[0], *(mask(w) for w in words[1:])])
