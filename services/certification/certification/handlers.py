"""One function per command or event: load, apply the domain rules, save, emit.

Commands (HTTP) run inside execute_write's unit of work; event handlers run inside the
consumer's batch transaction and never commit."""

from __future__ import annotations

import hmac
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters import repository as repo
from certification.adapters.tables import (
    AssessmentRow,
    BadgeRow,
    CadreRow,
    CertificateRow,
    TrainingParticipantRow,
    TrainingRow,
)
from certification.config import CertificationConfig
from certification.domain.certificates import (
    REVOCABLE,
    SUSPENDED_BY_DEACTIVATION,
    CurrentCertificate,
    certificate_number,
    decide_after_assessment,
    expiry_action,
    expiry_date,
    local_date,
    mask_name,
    renewed_expiry,
    status_on_restore,
    verification_status,
)
from certification.domain.levels import LevelName
from certification.domain.projection import StatusChange, is_newer, status_change
from certification.schemas import (
    AssessmentCreate,
    AssessmentOutcome,
    AssessmentPublic,
    BadgePublic,
    CadreHistory,
    CadrePublic,
    CertificatePublic,
    ParticipantPublic,
    SweepResult,
    TrainingCompletion,
    TrainingCreate,
    TrainingHistoryItem,
    TrainingPublic,
    VerificationPublic,
)
from sikader_shared.clock import utc
from sikader_shared.envelope import Envelope
from sikader_shared.errors import Conflict, Forbidden, Invalid, NotFound
from sikader_shared.events import (
    CadreAssigned,
    CadreCertified,
    CadreDeactivated,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    CertificateExpired,
    CertificateExpiring,
    CertificateRenewed,
    CertificateRevoked,
    CertificateSuperseded,
    CertificateSuspended,
    SkillAssessed,
    TrainingCompleted,
)
from sikader_shared.events.certification import RenewalBasis
from sikader_shared.uow import UnitOfWork

# =========================================================================== registry events


async def _cadre_row(uow: UnitOfWork, cadre_id: str) -> CadreRow:
    row = await repo.get_cadre(uow.session, cadre_id)
    if row is None:
        row = CadreRow(cadre_id=cadre_id, updated_at=uow.clock.now())
        uow.session.add(row)
    return row


async def _apply_status(uow: UnitOfWork, row: CadreRow, status: str, at: datetime) -> None:
    if not is_newer(_ts(row.status_at), at):
        return
    change = status_change(row.status, status)
    row.status = status
    row.status_at = at
    if change is not None:
        await _certificates_follow_holder(uow, row, change)


async def on_cadre_snapshot(uow: UnitOfWork, event: CadreRegistered | CadreUpdated, env: Envelope) -> None:
    """When the registry publishes a cadre's public state, keep our copy of it (only what
    certification needs: name, status, area, Posyandu)."""
    row = await _cadre_row(uow, event.cadre_id)
    at = utc(env.time)
    if is_newer(_ts(row.snapshot_at), at):
        row.name = event.name
        row.snapshot_at = at
    if is_newer(_ts(row.assigned_at), at):
        row.kelurahan_code, row.kecamatan_code = event.kelurahan_code, event.kecamatan_code
        row.posyandu_id = event.posyandu_id
        row.assigned_at = at
    await _apply_status(uow, row, event.status, at)
    row.updated_at = uow.clock.now()
    uow.session.add(row)


async def on_cadre_assigned(uow: UnitOfWork, event: CadreAssigned, env: Envelope) -> None:
    """A transfer moves the cadre's area (certificate events carry it for area filters)."""
    if not event.primary:
        return
    row = await _cadre_row(uow, event.cadre_id)
    at = utc(env.time)
    if is_newer(_ts(row.assigned_at), at):
        row.kelurahan_code, row.kecamatan_code = event.kelurahan_code, event.kecamatan_code
        row.posyandu_id = event.posyandu_id
        row.assigned_at = at
        row.updated_at = uow.clock.now()
        uow.session.add(row)


async def on_cadre_deactivated(uow: UnitOfWork, event: CadreDeactivated, env: Envelope) -> None:
    """When a cadre is deactivated, their certificates are suspended (never deleted)."""
    row = await _cadre_row(uow, event.cadre_id)
    await _apply_status(uow, row, "inactive", utc(env.time))
    row.updated_at = uow.clock.now()
    uow.session.add(row)


async def on_cadre_reactivated(uow: UnitOfWork, event: CadreReactivated, env: Envelope) -> None:
    """When a cadre is reactivated, the certificates suspended for it are restored."""
    row = await _cadre_row(uow, event.cadre_id)
    await _apply_status(uow, row, "active", utc(env.time))
    row.updated_at = uow.clock.now()
    uow.session.add(row)


async def _certificates_follow_holder(uow: UnitOfWork, cadre: CadreRow, change: StatusChange) -> None:
    today = local_date(uow.clock.now())
    if change == "deactivated":
        for cert in await repo.certificates_with_status(uow.session, cadre.cadre_id, "valid"):
            before = _audit_view(cert)
            cert.status, cert.status_reason = "suspended", SUSPENDED_BY_DEACTIVATION
            _touch(uow, cert)
            uow.emit(
                CertificateSuspended(**_cert_fields(cert, cadre), reason=SUSPENDED_BY_DEACTIVATION, suspended_on=today)
            )
            uow.audit("certificate.suspend", "certificate", cert.certificate_id, before, _audit_view(cert))
        return
    for cert in await repo.certificates_with_status(uow.session, cadre.cadre_id, "suspended"):
        if cert.status_reason != SUSPENDED_BY_DEACTIVATION:
            continue
        before = _audit_view(cert)
        cert.status, cert.status_reason = status_on_restore(cert.expires_on, today), None
        _touch(uow, cert)
        if cert.status == "valid":
            # The contract has no CertificateRestored: a restoration is a renewal by reactivation.
            uow.emit(
                CertificateRenewed(
                    **_cert_fields(cert, cadre),
                    basis="reactivation",
                    previous_expires_on=cert.expires_on,
                    renewed_on=today,
                )
            )
        else:
            uow.emit(CertificateExpired(**_cert_fields(cert, cadre), expired_on=cert.expires_on))
        uow.audit("certificate.restore", "certificate", cert.certificate_id, before, _audit_view(cert))


# =========================================================================== trainings


async def create_training(uow: UnitOfWork, config: CertificationConfig, cmd: TrainingCreate) -> TrainingPublic:
    unknown_skills = config.catalogue.unknown(cmd.skill_codes)
    if unknown_skills:
        raise Invalid("unknown skill codes", field="skill_codes", unknown_skill_codes=unknown_skills)
    await _require_active_cadres(uow, cmd.participants, field="participants")
    training = TrainingRow(
        training_id=str(uuid.uuid4()),
        title=cmd.title,
        organiser=cmd.organiser or uow.actor.client_id,
        skill_codes=list(cmd.skill_codes),
        started_on=cmd.started_on,
        ends_on=cmd.ends_on,
        place=cmd.place,
        refresher=cmd.refresher,
        status="scheduled",
        created_by=uow.actor.client_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(training)
    participants = [TrainingParticipantRow(training_id=training.training_id, cadre_id=c) for c in cmd.participants]
    uow.session.add_all(participants)
    uow.audit("training.create", "training", training.training_id, None, cmd.model_dump(mode="json"))
    return _training_public(training, participants)


async def complete_training(
    uow: UnitOfWork, config: CertificationConfig, training_id: str, cmd: TrainingCompletion
) -> TrainingPublic:
    """Record attendance; every attendee gets TrainingCompleted, and a refresher training
    renews the attendee's current certificate."""
    training = await uow.session.get(TrainingRow, training_id)
    if training is None:
        raise NotFound("training not found", training_id=training_id)
    if training.created_by != uow.actor.client_id and not uow.actor.has("admin"):
        # Attendance is the planning OPD's record: another OPD's key must not complete it
        # (completion issues TrainingCompleted and renews certificates).
        raise Forbidden(
            "only the OPD client that planned the training may record its attendance",
            training_id=training_id,
            planned_by=training.created_by,
        )
    if training.status == "completed":
        raise Conflict("training already completed", training_id=training_id)
    participants = await repo.participants_of(uow.session, training_id)
    enrolled = {p.cadre_id for p in participants}
    strangers = [c for c in cmd.attended if c not in enrolled]
    if strangers:
        raise Invalid("attendees must be participants of the training", field="attended", cadre_ids=strangers)
    today = local_date(uow.clock.now())
    completed_on = cmd.completed_on or min(training.ends_on, today)
    if completed_on < training.started_on or completed_on > today:
        raise Invalid("completed_on must lie between the start of the training and today", field="completed_on")
    cadres = await _require_active_cadres(uow, cmd.attended, field="attended")
    attended = set(cmd.attended)
    for p in participants:
        p.attended = p.cadre_id in attended
        uow.session.add(p)
    training.status, training.completed_on = "completed", completed_on
    uow.session.add(training)
    renewed: list[str] = []
    for cadre_id in sorted(attended):
        cadre = cadres[cadre_id]
        uow.emit(
            TrainingCompleted(
                cadre_id=cadre_id,
                kelurahan_code=cadre.kelurahan_code,
                kecamatan_code=cadre.kecamatan_code,
                training_id=training.training_id,
                title=training.title,
                organiser=training.organiser,
                skill_codes=list(training.skill_codes),
                started_on=training.started_on,
                completed_on=completed_on,
                place=training.place,
                refresher=training.refresher,
            )
        )
        if training.refresher:
            current = await repo.current_certificate(uow.session, cadre_id)
            if current is not None and current.status in ("valid", "expired"):
                await _renew(uow, config, current, cadre, "refresher_training", training.training_id)
                renewed.append(current.number)
    uow.audit(
        "training.complete",
        "training",
        training_id,
        None,
        {"attended": sorted(attended), "completed_on": completed_on.isoformat(), "renewed": renewed},
    )
    out = _training_public(training, participants)
    out.renewed_certificates = renewed
    return out


async def get_training(session: AsyncSession, training_id: str) -> TrainingPublic:
    training = await session.get(TrainingRow, training_id)
    if training is None:
        raise NotFound("training not found", training_id=training_id)
    return _training_public(training, await repo.participants_of(session, training_id))


# =========================================================================== assessments


async def record_assessment(uow: UnitOfWork, config: CertificationConfig, cmd: AssessmentCreate) -> AssessmentOutcome:
    """Record pass/fail per skill; a pass is a badge; then the badges decide the level and
    the certificate: first reaching a level issues one, a higher level supersedes the old
    one, a passed re-assessment at the same level renews it."""
    catalogue = config.catalogue
    unknown = catalogue.unknown([r.skill_code for r in cmd.results])
    if unknown:
        raise Invalid("unknown skill codes", field="results", unknown_skill_codes=unknown)
    today = local_date(uow.clock.now())
    if cmd.assessed_on > today:
        raise Invalid("assessed_on lies in the future", field="assessed_on")
    cadre = await _require_active_cadre(uow, cmd.cadre_id)
    held = {b.skill_code: b for b in await repo.badges_of(uow.session, cadre.cadre_id)}
    recorded: list[AssessmentPublic] = []
    for result in cmd.results:
        skill = catalogue.skills[result.skill_code]
        row = AssessmentRow(
            assessment_id=str(uuid.uuid4()),
            cadre_id=cadre.cadre_id,
            skill_code=skill.code,
            skill_group=skill.group_code,
            catalogue_version=catalogue.version,
            passed=result.passed,
            assessor=cmd.assessor,
            assessed_on=cmd.assessed_on,
            notes=result.notes,
            recorded_by=uow.actor.client_id,
            recorded_at=uow.clock.now(),
        )
        uow.session.add(row)
        badge_id: str | None = None
        if result.passed:
            badge = held.get(skill.code)
            if badge is None:
                badge = BadgeRow(
                    cadre_id=cadre.cadre_id,
                    skill_code=skill.code,
                    badge_id=str(uuid.uuid4()),
                    skill_group=skill.group_code,
                    assessment_id=row.assessment_id,
                    awarded_on=cmd.assessed_on,
                    last_passed_on=cmd.assessed_on,
                )
                held[skill.code] = badge
            else:
                badge.last_passed_on = max(badge.last_passed_on, cmd.assessed_on)
            uow.session.add(badge)
            badge_id = badge.badge_id
        uow.emit(
            SkillAssessed(
                cadre_id=cadre.cadre_id,
                kelurahan_code=cadre.kelurahan_code,
                kecamatan_code=cadre.kecamatan_code,
                assessment_id=row.assessment_id,
                skill_code=skill.code,
                skill_group=skill.group_code,
                catalogue_version=catalogue.version,
                passed=result.passed,
                badge_id=badge_id,
                assessor=cmd.assessor,
                assessed_on=cmd.assessed_on,
            )
        )
        recorded.append(_assessment_public(row, badge_id))
    uow.audit(
        "assessment.record",
        "cadre",
        cadre.cadre_id,
        None,
        {"assessor": cmd.assessor, "results": {r.skill_code: r.passed for r in cmd.results}},
    )

    badges = set(held)
    reached = config.policy.level_for(catalogue, badges)
    current = await repo.current_certificate(uow.session, cadre.cadre_id)
    view = None
    if current is not None:
        view = CurrentCertificate(level=current.level, status=current.status, expires_on=current.expires_on)  # type: ignore[arg-type]
    decision = decide_after_assessment(view, reached, any(r.passed for r in cmd.results))
    certificate: CertificateRow | None = None
    superseded_id: str | None = None
    if decision == "issue" and reached is not None:
        certificate = await _issue(uow, config, cadre, reached, sorted(badges), supersedes=current)
        superseded_id = current.certificate_id if current is not None else None
    elif decision == "renew" and current is not None:
        await _renew(uow, config, current, cadre, "reassessment", None)
        certificate = current
    return AssessmentOutcome(
        cadre_id=cadre.cadre_id,
        assessments=recorded,
        badges=sorted(badges),
        complete_groups=sorted(catalogue.complete_groups(badges)),
        level=reached,
        certificate_action=decision,
        certificate=_certificate_public(config, certificate) if certificate is not None else None,
        superseded_certificate_id=superseded_id,
    )


# =========================================================================== certificates


async def _issue(
    uow: UnitOfWork,
    config: CertificationConfig,
    cadre: CadreRow,
    level: LevelName,
    skill_codes: list[str],
    supersedes: CertificateRow | None,
) -> CertificateRow:
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
            **_cert_fields(cert, cadre),
            cadre_name=cert.holder_name,
            skill_codes=skill_codes,
            issued_on=today,
            issuer=cert.issuer,
            supersedes_certificate_id=cert.supersedes_certificate_id,
            level_policy_version=cert.level_policy_version,
            verify_url=config.verify_url(cert.number, cert.check_code),
        )
    )
    uow.audit("certificate.issue", "certificate", cert.certificate_id, None, _audit_view(cert))
    if supersedes is not None:
        before = _audit_view(supersedes)
        supersedes.status = "superseded"
        supersedes.superseded_by_certificate_id = cert.certificate_id
        _touch(uow, supersedes)
        uow.emit(
            CertificateSuperseded(
                **_cert_fields(supersedes, cadre),
                superseded_by_certificate_id=cert.certificate_id,
                superseded_by_number=cert.number,
                new_level=level,
                superseded_on=today,
            )
        )
        uow.audit("certificate.supersede", "certificate", supersedes.certificate_id, before, _audit_view(supersedes))
    return cert


async def _renew(
    uow: UnitOfWork,
    config: CertificationConfig,
    cert: CertificateRow,
    cadre: CadreRow,
    basis: RenewalBasis,
    training_id: str | None,
) -> None:
    today = local_date(uow.clock.now())
    before = _audit_view(cert)
    previous = cert.expires_on
    cert.expires_on = renewed_expiry(previous, today, config.validity_years)
    cert.status, cert.status_reason = "valid", None
    _touch(uow, cert)
    uow.emit(
        CertificateRenewed(
            **_cert_fields(cert, cadre),
            basis=basis,
            previous_expires_on=previous,
            renewed_on=today,
            training_id=training_id,
        )
    )
    uow.audit("certificate.renew", "certificate", cert.certificate_id, before, _audit_view(cert))


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
    before = _audit_view(cert)
    now = uow.clock.now()
    cert.status, cert.status_reason = "revoked", reason
    cert.revoked_by, cert.revoked_at = uow.actor.client_id, now
    _touch(uow, cert)
    uow.emit(
        CertificateRevoked(**_cert_fields(cert, cadre), reason=reason, revoked_by=uow.actor.client_id, revoked_at=now)
    )
    uow.audit("certificate.revoke", "certificate", cert.certificate_id, before, _audit_view(cert))
    return _certificate_public(config, cert)


async def run_expiry_sweep(uow: UnitOfWork, now: datetime, notice_days: int = 30, limit: int = 5000) -> SweepResult:
    """The scheduler's tick: announce expiry `notice_days` ahead (once per expiry date) and
    expire certificates on their date. Safe to run at any time and as often as wanted."""
    today = local_date(now)
    due = await repo.certificates_due(uow.session, today, today + timedelta(days=notice_days), limit)
    cadres = await repo.cadres_by_id(uow.session, [c.cadre_id for c in due])
    result = SweepResult(checked_at=now)
    for cert in due:
        action = expiry_action(cert.status, cert.expires_on, cert.expiring_announced_for, today, notice_days)
        cadre = cadres.get(cert.cadre_id) or CadreRow(cadre_id=cert.cadre_id, updated_at=now)
        if action == "expire":
            before = _audit_view(cert)
            cert.status = "expired"
            _touch(uow, cert)
            uow.emit(CertificateExpired(**_cert_fields(cert, cadre), expired_on=cert.expires_on))
            uow.audit("certificate.expire", "certificate", cert.certificate_id, before, _audit_view(cert))
            result.expired.append(cert.number)
        elif action == "announce":
            cert.expiring_announced_for = cert.expires_on
            _touch(uow, cert)
            uow.emit(CertificateExpiring(**_cert_fields(cert, cadre), days_left=(cert.expires_on - today).days))
            result.announced.append(cert.number)
    return result


# =========================================================================== reads


async def cadre_view(session: AsyncSession, cadre_id: str) -> CadrePublic:
    cadre = await repo.get_cadre(session, cadre_id)
    if cadre is None or cadre.name is None:
        raise NotFound("cadre not known to certification (no registry event seen yet)", cadre_id=cadre_id)
    current = await repo.current_certificate(session, cadre_id)
    return _cadre_public(cadre, current)


async def history(session: AsyncSession, config: CertificationConfig, cadre_id: str) -> CadreHistory:
    cadre_public = await cadre_view(session, cadre_id)
    badges = await repo.badges_of(session, cadre_id)
    badge_by_assessment = {b.assessment_id: b.badge_id for b in badges}
    return CadreHistory(
        cadre=cadre_public,
        trainings=[
            TrainingHistoryItem(
                training_id=t.training_id,
                title=t.title,
                organiser=t.organiser,
                skill_codes=list(t.skill_codes),
                started_on=t.started_on,
                ends_on=t.ends_on,
                refresher=t.refresher,
                status=t.status,
                attended=p.attended,
            )
            for t, p in await repo.trainings_of(session, cadre_id)
        ],
        assessments=[
            _assessment_public(a, badge_by_assessment.get(a.assessment_id))
            for a in await repo.assessments_of(session, cadre_id)
        ],
        badges=[
            BadgePublic(
                badge_id=b.badge_id,
                skill_code=b.skill_code,
                skill_name=config.catalogue.skills[b.skill_code].name
                if b.skill_code in config.catalogue.skills
                else "",
                skill_group=b.skill_group,
                awarded_on=b.awarded_on,
                last_passed_on=b.last_passed_on,
            )
            for b in badges
        ],
        certificates=[_certificate_public(config, c) for c in await repo.certificates_of(session, cadre_id)],
    )


async def certificates_for(
    session: AsyncSession, config: CertificationConfig, cadre_id: str
) -> list[CertificatePublic]:
    return [_certificate_public(config, c) for c in await repo.certificates_of(session, cadre_id)]


async def certificate_view(session: AsyncSession, config: CertificationConfig, number: str) -> CertificatePublic:
    cert = await repo.certificate_by_number(session, number)
    if cert is None:
        raise NotFound("certificate not found", number=number)
    return _certificate_public(config, cert)


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


# =========================================================================== helpers


async def _require_active_cadre(uow: UnitOfWork, cadre_id: str) -> CadreRow:
    cadre = await repo.get_cadre(uow.session, cadre_id, lock=True)
    if cadre is None or cadre.name is None:
        raise NotFound("cadre not known to certification (no registry event seen yet)", cadre_id=cadre_id)
    if cadre.status != "active":
        raise Conflict("cadre is inactive: nothing is certified for an inactive cadre", cadre_id=cadre_id)
    return cadre


async def _require_active_cadres(uow: UnitOfWork, cadre_ids: list[str], field: str) -> dict[str, CadreRow]:
    cadres = await repo.cadres_by_id(uow.session, cadre_ids)
    unknown = [c for c in cadre_ids if c not in cadres or cadres[c].name is None]
    if unknown:
        raise Invalid("cadres not known to certification (no registry event seen yet)", field=field, cadre_ids=unknown)
    inactive = [c for c in cadre_ids if cadres[c].status != "active"]
    if inactive:
        raise Conflict("inactive cadres cannot take part", field=field, cadre_ids=inactive)
    return cadres


def _ts(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


def _touch(uow: UnitOfWork, cert: CertificateRow) -> None:
    cert.updated_at = uow.clock.now()
    uow.session.add(cert)


def _cert_fields(cert: CertificateRow, cadre: CadreRow) -> dict[str, Any]:
    """What every certificate event carries: the certificate's state after the event."""
    return {
        "cadre_id": cert.cadre_id,
        "kelurahan_code": cadre.kelurahan_code,
        "kecamatan_code": cadre.kecamatan_code,
        "certificate_id": cert.certificate_id,
        "certificate_number": cert.number,
        "level": cert.level,
        "status": cert.status,
        "expires_on": cert.expires_on,
    }


def _audit_view(cert: CertificateRow) -> dict[str, Any]:
    return {
        "number": cert.number,
        "level": cert.level,
        "status": cert.status,
        "status_reason": cert.status_reason,
        "expires_on": cert.expires_on.isoformat(),
    }


def _certificate_public(config: CertificationConfig, cert: CertificateRow) -> CertificatePublic:
    return CertificatePublic(
        certificate_id=cert.certificate_id,
        number=cert.number,
        cadre_id=cert.cadre_id,
        holder_name=cert.holder_name,
        level=cert.level,
        skill_codes=list(cert.skill_codes),
        issued_on=cert.issued_on,
        expires_on=cert.expires_on,
        issuer=cert.issuer,
        status=cert.status,
        status_reason=cert.status_reason,
        supersedes_certificate_id=cert.supersedes_certificate_id,
        superseded_by_certificate_id=cert.superseded_by_certificate_id,
        level_policy_version=cert.level_policy_version,
        verify_url=config.verify_url(cert.number, cert.check_code),
    )


def _assessment_public(row: AssessmentRow, badge_id: str | None) -> AssessmentPublic:
    return AssessmentPublic(
        assessment_id=row.assessment_id,
        cadre_id=row.cadre_id,
        skill_code=row.skill_code,
        skill_group=row.skill_group,
        passed=row.passed,
        assessor=row.assessor,
        assessed_on=row.assessed_on,
        notes=row.notes,
        badge_id=badge_id,
    )


def _cadre_public(cadre: CadreRow, current: CertificateRow | None) -> CadrePublic:
    return CadrePublic(
        cadre_id=cadre.cadre_id,
        name=cadre.name,
        status=cadre.status,
        kelurahan_code=cadre.kelurahan_code,
        kecamatan_code=cadre.kecamatan_code,
        posyandu_id=cadre.posyandu_id,
        level=current.level if current is not None else None,
        certificate_number=current.number if current is not None else None,
    )


def _training_public(training: TrainingRow, participants: list[TrainingParticipantRow]) -> TrainingPublic:
    return TrainingPublic(
        training_id=training.training_id,
        title=training.title,
        organiser=training.organiser,
        skill_codes=list(training.skill_codes),
        started_on=training.started_on,
        ends_on=training.ends_on,
        place=training.place,
        refresher=training.refresher,
        status=training.status,
        completed_on=training.completed_on,
        participants=[ParticipantPublic(cadre_id=p.cadre_id, attended=p.attended) for p in participants],
    )
