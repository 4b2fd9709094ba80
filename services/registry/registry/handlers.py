"""One function per command: load, apply the domain rules, save through the unit of work,
emit the events. Routes call these inside `execute_write`; they never commit."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from registry.adapters.tables import (
    AssignmentRecord,
    CadreRecord,
    FacilityAssessmentRecord,
    PosyanduRecord,
    VerificationRecord,
)
from registry.config import RegistryConfig
from registry.domain import cadre as cadre_rules
from registry.domain import posyandu as posyandu_rules
from registry.domain.commands import (
    AssessmentCreate,
    CadreAssign,
    CadreCreate,
    CadreStatusChange,
    CadreUpdate,
    PaymentDetails,
    PosyanduClosure,
    PosyanduCreate,
    PosyanduUpdate,
    VerificationDecision,
)
from registry.domain.csvfiles import CadreRow, Parsed, PosyanduRow, RowError
from registry.domain.errors import FieldError, RuleViolation
from registry.domain.identity import check_nik, nik_hash
from sikader_shared.clock import WITA
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import (
    CadreAssigned,
    CadreContactChanged,
    CadreDeactivated,
    CadrePaymentDetailsChanged,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    EquipmentItem,
    Event,
    ManagementRole,
    PosyanduClosed,
    PosyanduFacilityAssessed,
    PosyanduFacilityRejected,
    PosyanduFacilityVerified,
    PosyanduInstitution,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.uow import UnitOfWork

LOOKUP_CHUNK = 2000


# --------------------------------------------------------------------------- refusals


def invalid(field: str, reason: str) -> Invalid:
    """A 422 in the same shape as request validation errors: a field and its reason."""
    return Invalid(reason, errors=[{"loc": ["body", field], "msg": reason, "type": "value_error"}])


@contextmanager
def domain_refusals() -> Iterator[None]:
    try:
        yield
    except FieldError as exc:
        raise invalid(exc.field, exc.reason) from exc
    except RuleViolation as exc:
        raise Conflict(str(exc)) from exc


def today(uow: UnitOfWork) -> date:
    return uow.clock.now().astimezone(WITA).date()


# --------------------------------------------------------------------------- loading


async def get_posyandu(uow: UnitOfWork, posyandu_id: str) -> PosyanduRecord:
    record = await uow.session.get(PosyanduRecord, posyandu_id)
    if record is None:
        raise NotFound(f"no Posyandu {posyandu_id}")
    return record


async def get_cadre(uow: UnitOfWork, cadre_id: str) -> CadreRecord:
    record = await uow.session.get(CadreRecord, cadre_id)
    if record is None:
        # The id is not echoed: a NIK pasted where the id belongs would come back in the answer.
        raise NotFound("no cadre with this id")
    return record


# --------------------------------------------------------------------------- event shapes


def _institution(record: PosyanduRecord) -> PosyanduInstitution | None:
    return PosyanduInstitution(**record.institution) if record.institution else None


def posyandu_state(record: PosyanduRecord) -> dict[str, Any]:
    """The public state carried by PosyanduRegistered / PosyanduUpdated (no address or
    coordinates: many Posyandu meet in a resident's house)."""
    return {
        "posyandu_id": record.id,
        "kelurahan_code": record.kelurahan_code,
        "kecamatan_code": record.kecamatan_code,
        "name": record.name,
        "posyandu_type": record.posyandu_type,
        "rt": record.rt,
        "rw": record.rw,
        "status": record.status,
        "verification_status": record.verification_status,
        "facility_status": record.facility_status,
        "institution": _institution(record),
        "management": [ManagementRole(**m) for m in record.management],
        "puskesmas": record.puskesmas,
    }


def cadre_state(record: CadreRecord | SimpleNamespace) -> dict[str, Any]:
    """The public part of a cadre (no NIK, contact or payment details)."""
    return {
        "cadre_id": record.id,
        "kelurahan_code": record.kelurahan_code,
        "kecamatan_code": record.kecamatan_code,
        "name": record.name,
        "roles": list(record.roles),
        "status": record.status,
        "posyandu_id": record.posyandu_id,
        "posyandu_role": record.posyandu_role,
        "joined_on": record.joined_on,
    }


def _audit_cadre(record: CadreRecord | SimpleNamespace) -> dict[str, Any]:
    state = {k: v for k, v in cadre_state(record).items() if k != "cadre_id"}
    state["joined_on"] = str(record.joined_on) if record.joined_on else None
    return state


def contact_event(cfg: RegistryConfig, uow: UnitOfWork, record: CadreRecord) -> CadreContactChanged:
    cipher = cfg.cipher("contact")
    return CadreContactChanged(
        cadre_id=record.id,
        key_id=cipher.key_id,
        changed_at=record.updated_at,
        phone_enc=cipher.encrypt(record.phone),
        email_enc=cipher.encrypt(record.email),
        address_enc=cipher.encrypt(record.address),
    )


def payment_event(cfg: RegistryConfig, uow: UnitOfWork, record: CadreRecord) -> CadrePaymentDetailsChanged:
    cipher = cfg.cipher("payment")
    return CadrePaymentDetailsChanged(
        cadre_id=record.id,
        key_id=cipher.key_id,
        changed_at=record.updated_at,
        method=record.payment_method,
        bank_enc=cipher.encrypt(record.payment_bank),
        account_number_enc=cipher.encrypt(record.payment_account_number),
        account_holder_enc=cipher.encrypt(record.payment_account_holder),
    )


def _has_contact(record: CadreRecord | SimpleNamespace) -> bool:
    return any((record.phone, record.email, record.address))


def _set_payment(record: CadreRecord, payment: PaymentDetails | None) -> None:
    record.payment_method = payment.method if payment else None
    record.payment_bank = payment.bank if payment else None
    record.payment_account_number = payment.account_number if payment else None
    record.payment_account_holder = (payment.account_holder or record.name) if payment else None


# --------------------------------------------------------------------------- Posyandu


def _kelurahan(cfg: RegistryConfig, code: str, field: str = "kelurahan_code") -> tuple[str, str]:
    kel = cfg.wilayah.kelurahan(code)
    if kel is None:
        raise invalid(field, f"unknown kelurahan {code} (not in the wilayah of {cfg.wilayah.region_name})")
    return kel.code, kel.kecamatan_code


async def _check_management(uow: UnitOfWork, management: list[dict[str, Any]]) -> None:
    ids = {m["cadre_id"] for m in management if m.get("cadre_id")}
    if ids:
        found = set(
            (await uow.session.execute(select(col(CadreRecord.id)).where(col(CadreRecord.id).in_(ids)))).scalars()
        )
        missing = sorted(ids - found)
        if missing:
            raise invalid("management", f"no cadre {missing[0]}")


async def _check_unique_name(uow: UnitOfWork, kelurahan_code: str, name_key: str, own_id: str | None) -> None:
    existing = (
        await uow.session.execute(
            select(col(PosyanduRecord.id)).where(
                col(PosyanduRecord.kelurahan_code) == kelurahan_code, col(PosyanduRecord.name_key) == name_key
            )
        )
    ).scalar_one_or_none()
    if existing is not None and existing != own_id:
        raise Conflict(
            "a Posyandu with this name is already registered in this kelurahan", existing_posyandu_id=existing
        )


def _new_posyandu(uow: UnitOfWork, cfg: RegistryConfig, cmd: PosyanduCreate) -> PosyanduRecord:
    kelurahan_code, kecamatan_code = _kelurahan(cfg, cmd.kelurahan_code)
    now = uow.clock.now()
    return PosyanduRecord(
        id=str(uuid.uuid4()),
        name=cmd.name,
        name_key=posyandu_rules.normalise_name(cmd.name),
        kelurahan_code=kelurahan_code,
        kecamatan_code=kecamatan_code,
        posyandu_type=cmd.posyandu_type,
        address=cmd.address,
        rt=cmd.rt,
        rw=cmd.rw,
        latitude=cmd.latitude,
        longitude=cmd.longitude,
        puskesmas=cmd.puskesmas,
        institution=cmd.institution.model_dump(mode="json") if cmd.institution else None,
        management=[m.model_dump(mode="json") for m in cmd.management],
        status="active",
        verification_status="PENDING",
        registered_at=now,
        updated_at=now,
    )


async def register_posyandu(uow: UnitOfWork, cfg: RegistryConfig, cmd: PosyanduCreate) -> PosyanduRecord:
    record = _new_posyandu(uow, cfg, cmd)
    if not record.name_key:
        raise invalid("name", "the name has no letters or digits besides 'Posyandu'")
    await _check_unique_name(uow, record.kelurahan_code, record.name_key, None)
    await _check_management(uow, record.management)
    uow.session.add(record)
    uow.emit(PosyanduRegistered(**posyandu_state(record), registered_at=record.registered_at))
    uow.audit("posyandu.register", "posyandu", record.id, None, _audit_posyandu(record))
    return record


def _audit_posyandu(record: PosyanduRecord) -> dict[str, Any]:
    out = {k: v for k, v in posyandu_state(record).items() if k not in ("posyandu_id", "institution", "management")}
    out.update(address=record.address, institution=record.institution, management=record.management)
    return out


_POSYANDU_EVENT_FIELDS = {"name", "posyandu_type", "rt", "rw", "institution", "management", "puskesmas"}


async def update_posyandu(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: PosyanduUpdate
) -> PosyanduRecord:
    record = await get_posyandu(uow, posyandu_id)
    if record.status != "active":
        raise Conflict(f"the Posyandu is {record.status}; it can no longer be changed")
    before = _audit_posyandu(record)
    changes = cmd.model_dump(mode="json", exclude_unset=True)
    for required in ("name", "posyandu_type"):
        if required in changes and changes[required] is None:
            raise invalid(required, f"{required} cannot be removed")
    lat = changes.get("latitude", record.latitude)
    lon = changes.get("longitude", record.longitude)
    if (lat is None) != (lon is None):
        raise invalid("latitude", "give both latitude and longitude, or neither")
    if "name" in changes:
        name_key = posyandu_rules.normalise_name(changes["name"])
        if not name_key:
            raise invalid("name", "the name has no letters or digits besides 'Posyandu'")
        await _check_unique_name(uow, record.kelurahan_code, name_key, record.id)
        record.name_key = name_key
    if "management" in changes:
        changes["management"] = changes["management"] or []
        await _check_management(uow, changes["management"])
    changed = []
    for name, value in changes.items():
        if getattr(record, name) != value:
            setattr(record, name, value)
            changed.append(name)
    if not changed:
        return record
    record.updated_at = uow.clock.now()
    uow.session.add(record)
    public = sorted(set(changed) & _POSYANDU_EVENT_FIELDS)
    if public:
        uow.emit(PosyanduUpdated(**posyandu_state(record), changed=public, updated_at=record.updated_at))
    uow.audit("posyandu.update", "posyandu", record.id, before, _audit_posyandu(record))
    return record


def _new_assessment(uow: UnitOfWork, posyandu_id: str, cmd: AssessmentCreate) -> FacilityAssessmentRecord:
    return FacilityAssessmentRecord(
        id=str(uuid.uuid4()),
        posyandu_id=posyandu_id,
        facility_status=cmd.facility_status,
        equipment=[e.model_dump(mode="json") for e in cmd.equipment],
        photo_refs=list(cmd.photo_refs),
        assessed_by=cmd.assessed_by,
        assessed_on=cmd.assessed_on,
        notes=cmd.notes,
        recorded_by=uow.actor.client_id,
        recorded_at=uow.clock.now(),
    )


def _assessed_event(record: PosyanduRecord, assessment: FacilityAssessmentRecord) -> PosyanduFacilityAssessed:
    return PosyanduFacilityAssessed(
        posyandu_id=record.id,
        kelurahan_code=record.kelurahan_code,
        kecamatan_code=record.kecamatan_code,
        assessment_id=assessment.id,
        facility_status=assessment.facility_status,
        equipment=[EquipmentItem(**e) for e in assessment.equipment],
        photo_refs=list(assessment.photo_refs),
        assessed_by=assessment.assessed_by,
        assessed_on=assessment.assessed_on,
        verification_status=record.verification_status,
    )


async def assess_facility(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: AssessmentCreate
) -> FacilityAssessmentRecord:
    """A new assessment is kept beside the earlier ones and calls for re-verification."""
    record = await get_posyandu(uow, posyandu_id)
    if record.status != "active":
        raise Conflict(f"the Posyandu is {record.status}; its facility can no longer be assessed")
    if cmd.assessed_on > today(uow):
        raise invalid("assessed_on", "the assessment date is in the future")
    assessment = _new_assessment(uow, record.id, cmd)
    before = {"facility_status": record.facility_status, "verification_status": record.verification_status}
    record.facility_status = assessment.facility_status
    record.latest_assessment_id = assessment.id
    record.verification_status = "PENDING"
    record.updated_at = uow.clock.now()
    uow.session.add_all([assessment, record])
    uow.emit(_assessed_event(record, assessment))
    uow.audit(
        "posyandu.assess",
        "posyandu",
        record.id,
        before,
        {"assessment_id": assessment.id, "facility_status": record.facility_status, "verification_status": "PENDING"},
    )
    return assessment


async def decide_verification(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: VerificationDecision
) -> VerificationRecord:
    record = await get_posyandu(uow, posyandu_id)
    state = posyandu_rules.VerificationState(
        status=record.status,  # type: ignore[arg-type]
        verification_status=record.verification_status,  # type: ignore[arg-type]
        has_assessment=record.latest_assessment_id is not None,
        has_sk=bool(record.institution and record.institution.get("sk_number")),
    )
    with domain_refusals():
        posyandu_rules.check_decision(state, cmd.decision, cmd.reason, cfg.verification_requires_sk)
    now = uow.clock.now()
    decision = VerificationRecord(
        posyandu_id=record.id,
        assessment_id=record.latest_assessment_id,
        decision=cmd.decision,
        reason=cmd.reason,
        note=cmd.note,
        decided_by=uow.actor.client_id,
        decided_at=now,
    )
    before = {"verification_status": record.verification_status}
    record.verification_status = cmd.decision
    record.updated_at = now
    uow.session.add_all([decision, record])
    common: dict[str, Any] = {
        "posyandu_id": record.id,
        "kelurahan_code": record.kelurahan_code,
        "kecamatan_code": record.kecamatan_code,
        "name": record.name,
        "assessment_id": record.latest_assessment_id,
        "facility_status": record.facility_status,
    }
    if cmd.decision == "VERIFIED":
        uow.emit(PosyanduFacilityVerified(**common, verified_by=uow.actor.client_id, verified_at=now, note=cmd.note))
    else:
        uow.emit(
            PosyanduFacilityRejected(
                **common, reason=cmd.reason or "", rejected_by=uow.actor.client_id, rejected_at=now
            )
        )
    uow.audit(
        "posyandu.verify", "posyandu", record.id, before, {"verification_status": cmd.decision, "reason": cmd.reason}
    )
    return decision


async def close_posyandu(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: PosyanduClosure
) -> dict[str, Any]:
    """Close a Posyandu, or merge it into another; its cadres move to the receiving Posyandu
    (their assignment history keeps the old one)."""
    record = await get_posyandu(uow, posyandu_id)
    target_id = cmd.merged_into_posyandu_id if cmd.closure == "merged" else cmd.reassign_to_posyandu_id
    target = await uow.session.get(PosyanduRecord, target_id) if target_id else None
    with domain_refusals():
        posyandu_rules.check_closure(
            record.id, record.status, cmd.closure, target_id, target.status if target else None
        )
    closed_on = cmd.closed_on or today(uow)
    before = {"status": record.status}
    record.status = cmd.closure
    record.merged_into_id = target.id if (target and cmd.closure == "merged") else None
    record.closed_on = closed_on
    record.closure_reason = cmd.reason
    record.updated_at = uow.clock.now()
    uow.session.add(record)
    cadres = list(
        (
            await uow.session.execute(
                select(CadreRecord).where(col(CadreRecord.posyandu_id) == record.id).order_by(col(CadreRecord.id))
            )
        ).scalars()
    )
    uow.emit(
        PosyanduClosed(
            posyandu_id=record.id,
            kelurahan_code=record.kelurahan_code,
            kecamatan_code=record.kecamatan_code,
            name=record.name,
            closure=cmd.closure,
            merged_into_posyandu_id=record.merged_into_id,
            reason=cmd.reason,
            closed_on=closed_on,
            reassigned_cadre_ids=[c.id for c in cadres] if target else [],
        )
    )
    reason = "posyandu_merged" if cmd.closure == "merged" else "posyandu_closed"
    for cadre in cadres:
        cadre_before = _audit_cadre(cadre)
        await _end_assignment(uow, cadre.id, closed_on, reason)
        if target is not None:
            _move_cadre(uow, cadre, target, cadre.posyandu_role, closed_on, reason)
            uow.audit("cadre.assign", "cadre", cadre.id, cadre_before, {**_audit_cadre(cadre), "reason": reason})
        else:
            cadre.posyandu_id = None
            cadre.posyandu_role = None
            cadre.updated_at = uow.clock.now()
            uow.session.add(cadre)
            uow.emit(
                CadreUpdated(
                    **cadre_state(cadre), changed=["posyandu_id", "posyandu_role"], updated_at=cadre.updated_at
                )
            )
            uow.audit("cadre.unassign", "cadre", cadre.id, cadre_before, {**_audit_cadre(cadre), "reason": reason})
    uow.audit(
        "posyandu.close",
        "posyandu",
        record.id,
        before,
        {"status": record.status, "merged_into": record.merged_into_id, "cadres_moved": len(cadres) if target else 0},
    )
    return {
        "posyandu_id": record.id,
        "status": record.status,
        "merged_into_posyandu_id": record.merged_into_id,
        "closed_on": closed_on,
        "reassigned_cadre_ids": [c.id for c in cadres] if target else [],
        "unassigned_cadre_ids": [] if target else [c.id for c in cadres],
    }


# --------------------------------------------------------------------------- cadres


async def _existing_niks(uow: UnitOfWork, hashes: list[str]) -> dict[str, str]:
    """nik_hash -> cadre id of the already registered ones among `hashes`."""
    found: dict[str, str] = {}
    for start in range(0, len(hashes), LOOKUP_CHUNK):
        chunk = hashes[start : start + LOOKUP_CHUNK]
        rows = await uow.session.execute(
            select(col(CadreRecord.nik_hash), col(CadreRecord.id)).where(col(CadreRecord.nik_hash).in_(chunk))
        )
        found.update({h: i for h, i in rows.tuples()})
    return found


def _duplicate_nik(uow: UnitOfWork, existing_id: str) -> Conflict:
    """Which cadre holds the NIK only for registry:pii: otherwise a 409 would confirm a guessed NIK."""
    if uow.actor.has("registry:pii"):
        return Conflict("a cadre with this NIK is already registered", existing_cadre_id=existing_id)
    return Conflict("a cadre with this NIK is already registered (a registry:pii key sees which one)")


def _check_identity(cfg: RegistryConfig, uow: UnitOfWork, nik: str, birth_date: date, sex: str) -> str:
    if birth_date > today(uow):
        raise FieldError("birth_date", "the birth date is in the future")
    return check_nik(nik, birth_date, sex, cfg.nik_prefixes)  # type: ignore[arg-type]


def _cadre_values(
    uow: UnitOfWork, cfg: RegistryConfig, cmd: CadreCreate, where: PosyanduRecord | tuple[str, str]
) -> dict[str, Any]:
    """The columns of a new cadre row (plain values: the bulk import builds 100,000s)."""
    now = uow.clock.now()
    if isinstance(where, PosyanduRecord):
        posyandu_id, kelurahan_code, kecamatan_code = where.id, where.kelurahan_code, where.kecamatan_code
    else:
        posyandu_id, (kelurahan_code, kecamatan_code) = None, where
    payment = cmd.payment
    return {
        "id": str(uuid.uuid4()),
        "nik": cmd.nik,
        "nik_hash": nik_hash(cmd.nik, cfg.nik_pepper),
        "name": cmd.name,
        "name_search": cmd.name.lower(),
        "sex": cmd.sex,
        "birth_date": cmd.birth_date,
        "phone": cmd.phone,
        "email": cmd.email,
        "address": cmd.address,
        "roles": list(dict.fromkeys(cmd.roles)),
        "status": "active",
        "status_reason": None,
        "status_since": None,
        "posyandu_id": posyandu_id,
        "posyandu_role": cmd.posyandu_role if posyandu_id else None,
        "kelurahan_code": kelurahan_code,
        "kecamatan_code": kecamatan_code,
        "joined_on": cmd.joined_on,
        "payment_method": payment.method if payment else None,
        "payment_bank": payment.bank if payment else None,
        "payment_account_number": payment.account_number if payment else None,
        "payment_account_holder": (payment.account_holder or cmd.name) if payment else None,
        "registered_at": now,
        "updated_at": now,
    }


def _cadre_events(cfg: RegistryConfig, uow: UnitOfWork, record: CadreRecord) -> list[Event]:
    events: list[Event] = [CadreRegistered(**cadre_state(record), registered_at=record.registered_at)]
    if _has_contact(record):
        events.append(contact_event(cfg, uow, record))
    if record.payment_method:
        events.append(payment_event(cfg, uow, record))
    return events


def _imported_cadre_events(cfg: RegistryConfig, views: list[SimpleNamespace]) -> list[Event]:
    """`_cadre_events` for every imported cadre, in the same order (per cadre: registered,
    contact, payment), with all private fields encrypted in two bulk calls."""
    contact, payment = cfg.cipher("contact"), cfg.cipher("payment")
    with_contact = [v for v in views if _has_contact(v)]
    with_payment = [v for v in views if v.payment_method]
    contact_enc = iter(contact.encrypt_many([x for v in with_contact for x in (v.phone, v.email, v.address)]))
    payment_enc = iter(
        payment.encrypt_many(
            [x for v in with_payment for x in (v.payment_bank, v.payment_account_number, v.payment_account_holder)]
        )
    )
    events: list[Event] = []
    for v in views:
        events.append(CadreRegistered.model_construct(**cadre_state(v), registered_at=v.registered_at))
        if _has_contact(v):
            events.append(
                CadreContactChanged.model_construct(
                    cadre_id=v.id,
                    key_id=contact.key_id,
                    changed_at=v.updated_at,
                    phone_enc=next(contact_enc),
                    email_enc=next(contact_enc),
                    address_enc=next(contact_enc),
                )
            )
        if v.payment_method:
            events.append(
                CadrePaymentDetailsChanged.model_construct(
                    cadre_id=v.id,
                    key_id=payment.key_id,
                    changed_at=v.updated_at,
                    method=v.payment_method,
                    bank_enc=next(payment_enc),
                    account_number_enc=next(payment_enc),
                    account_holder_enc=next(payment_enc),
                )
            )
    return events


def _first_assignment(cadre: dict[str, Any], start_on: date) -> dict[str, Any] | None:
    if cadre["posyandu_id"] is None:
        return None
    return {
        "cadre_id": cadre["id"],
        "posyandu_id": cadre["posyandu_id"],
        "posyandu_role": cadre["posyandu_role"],
        "is_primary": True,
        "start_on": start_on,
        "end_on": None,
        "reason": "registration",
        "end_reason": None,
    }


async def _where_cadre_serves(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str | None, kelurahan_code: str | None
) -> PosyanduRecord | tuple[str, str]:
    if posyandu_id is not None:
        posyandu = await uow.session.get(PosyanduRecord, posyandu_id)
        if posyandu is None:
            raise invalid("posyandu_id", f"no Posyandu {posyandu_id}")
        if posyandu.status != "active":
            raise invalid("posyandu_id", f"the Posyandu is {posyandu.status}")
        if kelurahan_code is not None and kelurahan_code != posyandu.kelurahan_code:
            raise invalid("kelurahan_code", "the Posyandu is in another kelurahan")
        return posyandu
    assert kelurahan_code is not None  # CadreCreate requires one of the two
    return _kelurahan(cfg, kelurahan_code)


async def register_cadre(uow: UnitOfWork, cfg: RegistryConfig, cmd: CadreCreate) -> CadreRecord:
    with domain_refusals():
        _check_identity(cfg, uow, cmd.nik, cmd.birth_date, cmd.sex)
    where = await _where_cadre_serves(uow, cfg, cmd.posyandu_id, cmd.kelurahan_code)
    values = _cadre_values(uow, cfg, cmd, where)
    record = CadreRecord(**values)
    existing = await _existing_niks(uow, [record.nik_hash])
    if existing:
        raise _duplicate_nik(uow, existing[record.nik_hash])
    events = _cadre_events(cfg, uow, record)  # before adding: a missing key refuses the write
    uow.session.add(record)
    assignment = _first_assignment(values, cmd.joined_on or today(uow))
    if assignment:
        uow.session.add(AssignmentRecord(**assignment))
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # registered concurrently
        raise Conflict("a cadre with this NIK is already registered") from exc
    for event in events:
        uow.emit(event)
    uow.audit("cadre.register", "cadre", record.id, None, _audit_cadre(record))
    return record


async def update_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreUpdate) -> CadreRecord:
    record = await get_cadre(uow, cadre_id)
    before = _audit_cadre(record)
    changes = cmd.model_dump(exclude_unset=True)
    for required in ("nik", "name", "sex", "birth_date", "roles"):
        if required in changes and changes[required] is None:
            raise invalid(required, f"{required} cannot be removed")
    nik = changes.get("nik", record.nik)
    birth_date = changes.get("birth_date", record.birth_date)
    sex = changes.get("sex", record.sex)
    identity_changed = [f for f in ("nik", "birth_date", "sex") if f in changes and changes[f] != getattr(record, f)]
    if identity_changed:
        with domain_refusals():
            _check_identity(cfg, uow, nik, birth_date, sex)
        if "nik" in identity_changed:
            new_hash = nik_hash(nik, cfg.nik_pepper)
            existing = await _existing_niks(uow, [new_hash])
            if existing and existing[new_hash] != record.id:
                raise _duplicate_nik(uow, existing[new_hash])
            record.nik, record.nik_hash = nik, new_hash
        record.birth_date, record.sex = birth_date, sex
    public_changed: list[str] = []
    for name in ("name", "roles", "joined_on"):
        if name in changes and changes[name] != getattr(record, name):
            setattr(record, name, list(dict.fromkeys(changes[name])) if name == "roles" else changes[name])
            public_changed.append(name)
    if "name" in public_changed:
        record.name_search = record.name.lower()
    if "posyandu_role" in changes and changes["posyandu_role"] != record.posyandu_role:
        if record.posyandu_id is None:
            raise invalid("posyandu_role", "the cadre is not assigned to a Posyandu")
        record.posyandu_role = changes["posyandu_role"]
        public_changed.append("posyandu_role")
    contact_changed = [f for f in ("phone", "email", "address") if f in changes and changes[f] != getattr(record, f)]
    for name in contact_changed:
        setattr(record, name, changes[name])
    payment_changed = False
    if "payment" in changes:
        old = (record.payment_method, record.payment_bank, record.payment_account_number, record.payment_account_holder)
        _set_payment(record, cmd.payment)
        payment_changed = old != (
            record.payment_method,
            record.payment_bank,
            record.payment_account_number,
            record.payment_account_holder,
        )
    if not (identity_changed or public_changed or contact_changed or payment_changed):
        return record
    record.updated_at = uow.clock.now()
    events: list[Event] = []
    if public_changed:
        events.append(CadreUpdated(**cadre_state(record), changed=public_changed, updated_at=record.updated_at))
    if contact_changed:
        events.append(contact_event(cfg, uow, record))
    if payment_changed:
        events.append(payment_event(cfg, uow, record))
    uow.session.add(record)
    try:
        await uow.session.flush()
    except IntegrityError as exc:
        raise Conflict("a cadre with this NIK is already registered") from exc
    for event in events:
        uow.emit(event)
    after = _audit_cadre(record)
    # Personal data stays out of the audit trail: it records which of those fields changed.
    after["personal_data_changed"] = identity_changed + contact_changed + (["payment"] if payment_changed else [])
    uow.audit("cadre.update", "cadre", record.id, before, after)
    return record


async def _end_assignment(uow: UnitOfWork, cadre_id: str, end_on: date, reason: str) -> None:
    await uow.session.execute(
        update(AssignmentRecord)
        .where(
            col(AssignmentRecord.cadre_id) == cadre_id,
            col(AssignmentRecord.is_primary).is_(True),
            col(AssignmentRecord.end_on).is_(None),
        )
        .values(end_on=end_on, end_reason=reason)
    )


def _move_cadre(
    uow: UnitOfWork, cadre: CadreRecord, target: PosyanduRecord, role: str | None, on: date, reason: str | None
) -> None:
    previous = cadre.posyandu_id
    cadre.posyandu_id = target.id
    cadre.posyandu_role = role
    cadre.kelurahan_code = target.kelurahan_code
    cadre.kecamatan_code = target.kecamatan_code
    cadre.updated_at = uow.clock.now()
    uow.session.add(cadre)
    uow.session.add(
        AssignmentRecord(
            cadre_id=cadre.id, posyandu_id=target.id, posyandu_role=role, is_primary=True, start_on=on, reason=reason
        )
    )
    uow.emit(
        CadreAssigned(
            cadre_id=cadre.id,
            kelurahan_code=target.kelurahan_code,
            kecamatan_code=target.kecamatan_code,
            posyandu_id=target.id,
            primary=True,
            previous_posyandu_id=previous,
            posyandu_role=role,
            assigned_on=on,
            reason=reason,
        )
    )


async def assign_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreAssign) -> CadreRecord:
    """Assign a cadre to a Posyandu as primary, or transfer them; the previous assignment
    is closed, not overwritten."""
    record = await get_cadre(uow, cadre_id)
    target = await uow.session.get(PosyanduRecord, cmd.posyandu_id)
    if target is None:
        raise invalid("posyandu_id", f"no Posyandu {cmd.posyandu_id}")
    with domain_refusals():
        cadre_rules.check_assignment(record.status, record.posyandu_id, target.id, target.status)
    on = cmd.assigned_on or today(uow)
    before = _audit_cadre(record)
    reason = cmd.reason or ("transfer" if record.posyandu_id else "assignment")
    await _end_assignment(uow, record.id, on, reason)
    _move_cadre(uow, record, target, cmd.posyandu_role, on, reason)
    uow.audit("cadre.assign", "cadre", record.id, before, _audit_cadre(record))
    return record


async def deactivate_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreStatusChange) -> CadreRecord:
    record = await get_cadre(uow, cadre_id)
    if not cmd.reason:
        raise invalid("reason", "deactivating a cadre needs a reason")
    with domain_refusals():
        cadre_rules.check_deactivation(record.status)
    return _change_status(uow, record, "inactive", cmd, CadreDeactivated, "cadre.deactivate")


async def reactivate_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreStatusChange) -> CadreRecord:
    record = await get_cadre(uow, cadre_id)
    with domain_refusals():
        cadre_rules.check_reactivation(record.status)
    return _change_status(uow, record, "active", cmd, CadreReactivated, "cadre.reactivate")


def _change_status(
    uow: UnitOfWork,
    record: CadreRecord,
    status: str,
    cmd: CadreStatusChange,
    event: type[CadreDeactivated] | type[CadreReactivated],
    action: str,
) -> CadreRecord:
    """Apply an allowed status change: record it, publish it, audit it."""
    before = record.status
    on = cmd.effective_on or today(uow)
    record.status, record.status_reason, record.status_since = status, cmd.reason, on
    record.updated_at = uow.clock.now()
    uow.session.add(record)
    uow.emit(
        event(
            cadre_id=record.id,
            kelurahan_code=record.kelurahan_code,
            kecamatan_code=record.kecamatan_code,
            posyandu_id=record.posyandu_id,
            reason=cmd.reason,
            effective_on=on,
        )
    )
    # The Posyandu in both snapshots: the audit trail per Posyandu finds cadre writes by it.
    where = {"posyandu_id": record.posyandu_id}
    after = {"status": status, "reason": cmd.reason, **where}
    uow.audit(action, "cadre", record.id, {"status": before, **where}, after)
    return record


# --------------------------------------------------------------------------- bulk import


def _report(
    parsed: Parsed, registered: list[dict[str, Any]], existing: list[dict[str, Any]], errors: list[RowError]
) -> dict[str, Any]:
    errors = sorted(errors, key=lambda e: e.line)
    return {
        "rows": parsed.total,
        "registered": len(registered),
        "already_registered": len(existing),
        "rejected": len({e.line for e in errors}),
        "registered_ids": registered,
        "existing": existing,
        "errors": [e.as_dict() for e in errors],
    }


async def import_cadres(uow: UnitOfWork, cfg: RegistryConfig, parsed: Parsed) -> dict[str, Any]:
    """Register every good row; report each bad one. Keyed by NIK: a cadre already in the
    register (or twice in the file) is not registered again."""
    errors = list(parsed.errors)
    rows: list[CadreRow] = []
    for row in parsed.rows:
        cmd = row.command
        try:
            _check_identity(cfg, uow, cmd.nik, cmd.birth_date, cmd.sex)
        except FieldError as exc:
            errors.append(RowError(row.line, exc.field, exc.reason))
            continue
        rows.append(row)
    # Resolve Posyandu (by id, or by kelurahan + name) with one query per chunk.
    ids = {r.command.posyandu_id for r in rows if r.command.posyandu_id}
    kelurahan = {r.command.kelurahan_code for r in rows if r.posyandu_name and r.command.kelurahan_code}
    by_id: dict[str, PosyanduRecord] = {}
    by_name: dict[tuple[str, str], PosyanduRecord] = {}
    if ids:
        for p in (await uow.session.execute(select(PosyanduRecord).where(col(PosyanduRecord.id).in_(ids)))).scalars():
            by_id[p.id] = p
    if kelurahan:
        stmt = select(PosyanduRecord).where(
            col(PosyanduRecord.kelurahan_code).in_(kelurahan), col(PosyanduRecord.status) == "active"
        )
        for p in (await uow.session.execute(stmt)).scalars():
            by_name[(p.kelurahan_code, p.name_key)] = p
    records: list[dict[str, Any]] = []
    lines: dict[str, int] = {}
    for row in rows:
        cmd = row.command
        where: PosyanduRecord | tuple[str, str]
        try:
            if cmd.posyandu_id:
                found = by_id.get(cmd.posyandu_id)
                if found is None or found.status != "active":
                    raise FieldError("posyandu_id", "no active Posyandu with this id")
                if cmd.kelurahan_code and cmd.kelurahan_code != found.kelurahan_code:
                    raise FieldError("kelurahan_code", "the Posyandu is in another kelurahan")
                where = found
            elif row.posyandu_name:
                assert cmd.kelurahan_code is not None
                found = by_name.get((cmd.kelurahan_code, posyandu_rules.normalise_name(row.posyandu_name)))
                if found is None:
                    raise FieldError("posyandu_name", "no active Posyandu of this name in the kelurahan")
                where = found
            else:
                kel = cfg.wilayah.kelurahan(cmd.kelurahan_code or "")
                if kel is None:
                    raise FieldError("kelurahan_code", "unknown kelurahan")
                where = (kel.code, kel.kecamatan_code)
        except FieldError as exc:
            errors.append(RowError(row.line, exc.field, exc.reason))
            continue
        values = _cadre_values(uow, cfg, cmd, where)
        if values["nik_hash"] in lines:
            errors.append(RowError(row.line, "nik", f"the same NIK is already on line {lines[values['nik_hash']]}"))
            continue
        lines[values["nik_hash"]] = row.line
        records.append(values)
    known = await _existing_niks(uow, [r["nik_hash"] for r in records])
    existing = [
        {"line": lines[r["nik_hash"]], "cadre_id": known[r["nik_hash"]]} for r in records if r["nik_hash"] in known
    ]
    new = [r for r in records if r["nik_hash"] not in known]
    assignments: list[dict[str, Any]] = []
    audits: list[tuple[str, None, dict[str, Any]]] = []
    start = today(uow)
    # Building ~5 rows and ~2.5 events per cadre allocates millions of short-lived objects
    # and no cycles: the cyclic GC would only rescan them, so it pauses for this loop.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        views = [SimpleNamespace(**r) for r in new]
        events = _imported_cadre_events(cfg, views)
        for r, view in zip(new, views, strict=True):
            a = _first_assignment(r, r["joined_on"] or start)
            if a is not None:
                assignments.append(a)
            audits.append((r["id"], None, _audit_cadre(view)))
        uow.add_rows(CadreRecord, new)
        uow.add_rows(AssignmentRecord, assignments)
        uow.emit_many(events)
        uow.audit_many("cadre.import", "cadre", audits)
    finally:
        if gc_was_enabled:
            gc.enable()
    await uow.flush()
    registered = [{"line": lines[r["nik_hash"]], "cadre_id": r["id"]} for r in new]
    return _report(parsed, registered, existing, errors)


async def import_posyandu(uow: UnitOfWork, cfg: RegistryConfig, parsed: Parsed) -> dict[str, Any]:
    """Register every good row (with its facility assessment when the row has one). Keyed by
    kelurahan + normalised name: a Posyandu already registered is not registered again."""
    errors = list(parsed.errors)
    candidates: list[tuple[PosyanduRow, PosyanduRecord]] = []
    seen: dict[tuple[str, str], int] = {}
    for row in parsed.rows:
        try:
            record = _new_posyandu(uow, cfg, row.command)
        except Invalid as exc:
            errors.append(RowError(row.line, "kelurahan_code", exc.message))
            continue
        if not record.name_key:
            errors.append(RowError(row.line, "name", "the name has no letters or digits besides 'Posyandu'"))
            continue
        if row.assessment is not None and row.assessment.assessed_on > today(uow):
            errors.append(RowError(row.line, "assessed_on", "the assessment date is in the future"))
            continue
        key = (record.kelurahan_code, record.name_key)
        if key in seen:
            errors.append(RowError(row.line, "name", f"the same Posyandu is already on line {seen[key]}"))
            continue
        seen[key] = row.line
        candidates.append((row, record))
    known: dict[tuple[str, str], str] = {}
    kelurahan = sorted({r.kelurahan_code for _, r in candidates})
    for start in range(0, len(kelurahan), LOOKUP_CHUNK):
        stmt = select(col(PosyanduRecord.kelurahan_code), col(PosyanduRecord.name_key), col(PosyanduRecord.id)).where(
            col(PosyanduRecord.kelurahan_code).in_(kelurahan[start : start + LOOKUP_CHUNK])
        )
        known.update({(k, n): i for k, n, i in (await uow.session.execute(stmt)).tuples()})
    existing = [
        {"line": row.line, "posyandu_id": known[(r.kelurahan_code, r.name_key)]}
        for row, r in candidates
        if (r.kelurahan_code, r.name_key) in known
    ]
    new = [(row, r) for row, r in candidates if (r.kelurahan_code, r.name_key) not in known]
    events: list[Event] = []
    assessments: list[FacilityAssessmentRecord] = []
    for row, record in new:
        events.append(PosyanduRegistered(**posyandu_state(record), registered_at=record.registered_at))
        if row.assessment is not None:
            assessment = _new_assessment(uow, record.id, row.assessment)
            record.facility_status = assessment.facility_status
            record.latest_assessment_id = assessment.id
            assessments.append(assessment)
            events.append(_assessed_event(record, assessment))
        uow.audit("posyandu.import", "posyandu", record.id, None, _audit_posyandu(record))
    uow.add_rows(PosyanduRecord, [r.model_dump() for _, r in new])
    uow.add_rows(FacilityAssessmentRecord, [a.model_dump() for a in assessments])
    uow.emit_many(events)
    await uow.flush()
    registered = [{"line": row.line, "posyandu_id": r.id} for row, r in new]
    return _report(parsed, registered, existing, errors)
