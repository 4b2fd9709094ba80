"""Certificates: issue, renew, supersede, revoke, follow the holder's status, the expiry
sweep, and the reads (by holder, by number, public verification, printable)."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters import repository as repo
from certification.adapters.printing import PrintableCertificate, certificate_html, certificate_pdf
from certification.adapters.tables import CadreRow, CertificateRow
from certification.config import CertificationConfig
from certification.domain.certificates import (
    REVOCABLE,
    SUSPENDED_BY_DEACTIVATION,
    certificate_fields,
    certificate_number,
    expiry_action,
    expiry_date,
    expiry_event,
    local_date,
    mask_name,
    renewed_expiry,
    restoration_event,
    status_on_restore,
    verification_status,
)
from certification.domain.levels import LevelName
from certification.entrypoints.schemas import CertificatePublic, SweepResult, VerificationPublic
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import (
    CadreCertified,
    CertificateRenewed,
    CertificateRevoked,
    CertificateSuperseded,
    CertificateSuspended,
)
from sikader_shared.events.certification import RenewalBasis
from sikader_shared.uow import UnitOfWork

# --------------------------------------------------------------------------- issue and renew


async def issue(
    uow: UnitOfWork,
    config: CertificationConfig,
    cadre: CadreRow,
    level: LevelName,
    skill_codes: list[str],
    supersedes: CertificateRow | None,
) -> CertificateRow:
    """A new certificate at `level`; the one it supersedes (if any) is withdrawn after it."""
    today = local_date(uow.clock.now())
    sequence = await repo.next_sequence(uow.session, f"{config.region_code}/{today.year}")
    cert = CertificateRow(
        certificate_id=str(uuid.uuid4()),
        number=certificate_number(config.region_code, today.year, level, sequence),
        cadre_id=cadre.cadre_id,
        level=level,
        skill_codes=skill_codes,
        issued_on=today,
        expires_on=expiry_date(today, config.validity_years),
        issuer=config.issuer,
        status="valid",
        level_policy_version=config.policy.version,
        holder_name=cadre.name or "",
        check_code=secrets.token_urlsafe(12),
        supersedes_certificate_id=supersedes.certificate_id if supersedes is not None else None,
        created_at=uow.clock.now(),
        updated_at=uow.clock.now(),
    )
    uow.session.add(cert)
    # The new certificate is announced before the old one is withdrawn: a consumer never
    # sees the cadre without a certificate in between.
    uow.emit(
        CadreCertified(
            **certificate_fields(cert, cadre),
            cadre_name=cert.holder_name,
            skill_codes=skill_codes,
            issued_on=today,
            issuer=cert.issuer,
            supersedes_certificate_id=cert.supersedes_certificate_id,
            level_policy_version=cert.level_policy_version,
            verify_url=config.verify_url(cert.number, cert.check_code),
        )
    )
    uow.audit("certificate.issue", "certificate", cert.certificate_id, None, audit_view(cert))
    if supersedes is not None:
        _supersede(uow, supersedes, cert, level, cadre, today)
    return cert


def _supersede(
    uow: UnitOfWork, old: CertificateRow, new: CertificateRow, level: LevelName, cadre: CadreRow, today: date
) -> None:
    before = audit_view(old)
    old.status = "superseded"
    old.superseded_by_certificate_id = new.certificate_id
    touch(uow, old)
    uow.emit(
        CertificateSuperseded(
            **certificate_fields(old, cadre),
            superseded_by_certificate_id=new.certificate_id,
            superseded_by_number=new.number,
            new_level=level,
            superseded_on=today,
        )
    )
    uow.audit("certificate.supersede", "certificate", old.certificate_id, before, audit_view(old))


async def renew(
    uow: UnitOfWork,
    config: CertificationConfig,
    cert: CertificateRow,
    cadre: CadreRow,
    basis: RenewalBasis,
    training_id: str | None,
) -> None:
    today = local_date(uow.clock.now())
    before = audit_view(cert)
    previous = cert.expires_on
    cert.expires_on = renewed_expiry(previous, today, config.validity_years)
    cert.status, cert.status_reason = "valid", None
    touch(uow, cert)
    uow.emit(
        CertificateRenewed(
            **certificate_fields(cert, cadre),
            basis=basis,
            previous_expires_on=previous,
            renewed_on=today,
            training_id=training_id,
        )
    )
    uow.audit("certificate.renew", "certificate", cert.certificate_id, before, audit_view(cert))


# --------------------------------------------------------------------------- the holder's status


async def suspend_with_holder(uow: UnitOfWork, cadre: CadreRow) -> None:
    """A deactivated cadre's valid certificates are suspended (never deleted)."""
    today = local_date(uow.clock.now())
    for cert in await repo.certificates_with_status(uow.session, cadre.cadre_id, "valid"):
        before = audit_view(cert)
        cert.status, cert.status_reason = "suspended", SUSPENDED_BY_DEACTIVATION
        touch(uow, cert)
        uow.emit(
            CertificateSuspended(
                **certificate_fields(cert, cadre), reason=SUSPENDED_BY_DEACTIVATION, suspended_on=today
            )
        )
        uow.audit("certificate.suspend", "certificate", cert.certificate_id, before, audit_view(cert))


async def restore_with_holder(uow: UnitOfWork, cadre: CadreRow) -> None:
    """A reactivated cadre's certificates suspended by the deactivation come back: valid, or
    expired when their date passed meanwhile."""
    today = local_date(uow.clock.now())
    for cert in await repo.certificates_with_status(uow.session, cadre.cadre_id, "suspended"):
        if cert.status_reason != SUSPENDED_BY_DEACTIVATION:
            continue
        before = audit_view(cert)
        cert.status, cert.status_reason = status_on_restore(cert.expires_on, today), None
        touch(uow, cert)
        uow.emit(restoration_event(cert, cadre, today))
        uow.audit("certificate.restore", "certificate", cert.certificate_id, before, audit_view(cert))


# --------------------------------------------------------------------------- revoke, expire


async def revoke_certificate(
    uow: UnitOfWork, config: CertificationConfig, certificate_id: str, reason: str
) -> CertificatePublic:
    cert = await repo.certificate_by_id(uow.session, certificate_id)
    if cert is None:
        raise NotFound("certificate not found", certificate_id=certificate_id)
    if cert.status not in REVOCABLE:
        raise Conflict(f"a {cert.status} certificate cannot be revoked", status=cert.status)
    cadre = await repo.get_cadre(uow.session, cert.cadre_id) or CadreRow(
        cadre_id=cert.cadre_id, updated_at=uow.clock.now()
    )
    before = audit_view(cert)
    now = uow.clock.now()
    cert.status, cert.status_reason = "revoked", reason
    cert.revoked_by, cert.revoked_at = uow.actor.client_id, now
    touch(uow, cert)
    uow.emit(
        CertificateRevoked(
            **certificate_fields(cert, cadre), reason=reason, revoked_by=uow.actor.client_id, revoked_at=now
        )
    )
    uow.audit("certificate.revoke", "certificate", cert.certificate_id, before, audit_view(cert))
    return certificate_public(config, cert)


async def run_expiry_sweep(uow: UnitOfWork, now: datetime, notice_days: int = 30, limit: int = 5000) -> SweepResult:
    """The scheduler's tick: announce expiry `notice_days` ahead (once per expiry date) and
    expire certificates on their date. Safe to run at any time and as often as wanted."""
    today = local_date(now)
    due = await repo.certificates_due(uow.session, today, today + timedelta(days=notice_days), limit)
    cadres = await repo.cadres_by_id(uow.session, [c.cadre_id for c in due])
    result = SweepResult(checked_at=now)
    for cert in due:
        action = expiry_action(cert.status, cert.expires_on, cert.expiring_announced_for, today, notice_days)
        if action is None:
            continue
        cadre = cadres.get(cert.cadre_id) or CadreRow(cadre_id=cert.cadre_id, updated_at=now)
        before = audit_view(cert)
        if action == "expire":
            cert.status = "expired"
            result.expired.append(cert.number)
        else:
            cert.expiring_announced_for = cert.expires_on
            result.announced.append(cert.number)
        touch(uow, cert)
        uow.emit(expiry_event(action, cert, cadre, today))
        if action == "expire":
            uow.audit("certificate.expire", "certificate", cert.certificate_id, before, audit_view(cert))
    return result


# --------------------------------------------------------------------------- reads


async def certificates_for(
    session: AsyncSession, config: CertificationConfig, cadre_id: str, after: list[Any] | None, limit: int
) -> list[CertificatePublic]:
    """A holder's certificates in (issued_on, number) order, from after that key (a page)."""
    rows = await repo.certificates_of(session, cadre_id, after=_page_key(after), limit=limit)
    return [certificate_public(config, c) for c in rows]


def page_key(cert: CertificatePublic) -> list[Any]:
    """The sort key a page of certificates continues after."""
    return [cert.issued_on.isoformat(), cert.number]


def _page_key(after: list[Any] | None) -> tuple[date, str] | None:
    if after is None:
        return None
    try:
        issued_on, number = after
        return date.fromisoformat(issued_on), str(number)
    except (TypeError, ValueError) as exc:
        raise Invalid("cursor is not one for this list", field="cursor") from exc


async def certificate_view(session: AsyncSession, config: CertificationConfig, number: str) -> CertificatePublic:
    cert = await repo.certificate_by_number(session, number)
    if cert is None:
        raise NotFound("certificate not found", number=number)
    return certificate_public(config, cert)


async def printable(session: AsyncSession, config: CertificationConfig, number: str) -> PrintableCertificate:
    cert = await certificate_view(session, config, number)
    skills = config.catalogue.skills
    return PrintableCertificate(
        number=cert.number,
        holder_name=cert.holder_name,
        level=cert.level,
        status=cert.status,
        issued_on=cert.issued_on,
        expires_on=cert.expires_on,
        issuer=cert.issuer,
        skills=[(code, skills[code].name) for code in cert.skill_codes if code in skills],
        verify_url=cert.verify_url,
    )


async def certificate_page(session: AsyncSession, config: CertificationConfig, number: str) -> str:
    """The printable certificate as HTML."""
    return certificate_html(await printable(session, config, number))


async def certificate_document(session: AsyncSession, config: CertificationConfig, number: str) -> tuple[str, bytes]:
    """The printable certificate as PDF, and its file name."""
    cert = await printable(session, config, number)
    return cert.number.replace("/", "-") + ".pdf", certificate_pdf(cert)


async def verify(session: AsyncSession, number: str, now: datetime, code: str | None = None) -> VerificationPublic:
    """Anyone may check a number (they are sequential): status, level and dates. The masked
    holder only with the certificate's check code (in its QR code and printed URL)."""
    today = local_date(now)
    cert = await repo.certificate_by_number(session, number)
    if cert is None:
        return VerificationPublic(number=number, status="unknown", checked_on=today)
    with_code = bool(code and cert.check_code and hmac.compare_digest(code, cert.check_code))
    return VerificationPublic(
        number=cert.number,
        status=verification_status(cert.status, cert.expires_on, today),
        level=cert.level,
        holder=mask_name(cert.holder_name) if with_code else None,
        issued_on=cert.issued_on,
        expires_on=cert.expires_on,
        issuer=cert.issuer,
        checked_on=today,
    )


# --------------------------------------------------------------------------- helpers


def touch(uow: UnitOfWork, cert: CertificateRow) -> None:
    cert.updated_at = uow.clock.now()
    uow.session.add(cert)


def audit_view(cert: CertificateRow) -> dict[str, Any]:
    return {
        "number": cert.number,
        "level": cert.level,
        "status": cert.status,
        "status_reason": cert.status_reason,
        "expires_on": cert.expires_on.isoformat(),
    }


def certificate_public(config: CertificationConfig, cert: CertificateRow) -> CertificatePublic:
    return CertificatePublic.model_validate(
        {**cert.model_dump(), "verify_url": config.verify_url(cert.number, cert.check_code)}
    )
