"""What the registry's handlers share: refusals in the API's shape, the local date, a new
cadre's row values, the public state the events carry and the audit snapshots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from types import SimpleNamespace
from typing import Any

from registry.adapters.tables import CadreRow, PosyanduRow
from registry.config import RegistryConfig
from registry.domain.commands import CadreCreate
from registry.domain.errors import FieldError, RuleViolation
from registry.domain.identity import nik_hash
from registry.domain.posyandu import published_verification_status
from sikader_shared.clock import WITA
from sikader_shared.errors import Conflict, Invalid
from sikader_shared.events import (
    CadreContactChanged,
    CadrePaymentDetailsChanged,
    ManagementRole,
    PosyanduInstitution,
)
from sikader_shared.uow import UnitOfWork


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
        raise Conflict(str(exc), **exc.details) from exc


def today(uow: UnitOfWork) -> date:
    return uow.clock.now().astimezone(WITA).date()


def kelurahan_of(cfg: RegistryConfig, code: str, field: str = "kelurahan_code") -> tuple[str, str]:
    """(kelurahan code, kecamatan code) of a kelurahan of the configured wilayah, or 422."""
    kel = cfg.wilayah.kelurahan(code)
    if kel is None:
        raise invalid(field, f"unknown kelurahan {code} (not in the wilayah of {cfg.wilayah.region_name})")
    return kel.code, kel.kecamatan_code


# --------------------------------------------------------------------------- Posyandu shapes


def posyandu_state(row: PosyanduRow) -> dict[str, Any]:
    """The public state carried by PosyanduRegistered / PosyanduUpdated (no address or
    coordinates: many Posyandu meet in a resident's house)."""
    return {
        "posyandu_id": row.id,
        "kelurahan_code": row.kelurahan_code,
        "kecamatan_code": row.kecamatan_code,
        "name": row.name,
        "posyandu_type": row.posyandu_type,
        "rt": row.rt,
        "rw": row.rw,
        "status": row.status,
        "verification_status": published_verification_status(row.verification_status),
        "facility_status": row.facility_status,
        "institution": PosyanduInstitution(**row.institution) if row.institution else None,
        "management": [ManagementRole(**m) for m in row.management],
        "puskesmas": row.puskesmas,
    }


def audit_posyandu(row: PosyanduRow) -> dict[str, Any]:
    out = {k: v for k, v in posyandu_state(row).items() if k not in ("posyandu_id", "institution", "management")}
    out.update(
        address=row.address,
        institution=row.institution,
        management=row.management,
        verification_status=row.verification_status,
    )
    return out


# --------------------------------------------------------------------------- cadre shapes


def cadre_values(
    uow: UnitOfWork, cfg: RegistryConfig, cmd: CadreCreate, where: PosyanduRow | tuple[str, str]
) -> dict[str, Any]:
    """The columns of a new cadre row (plain values: the bulk import builds 100,000s)."""
    now = uow.clock.now()
    if isinstance(where, PosyanduRow):
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


def first_assignment(cadre: dict[str, Any], start_on: date) -> dict[str, Any] | None:
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


def cadre_state(row: CadreRow | SimpleNamespace) -> dict[str, Any]:
    """The public part of a cadre (no NIK, contact or payment details)."""
    return {
        "cadre_id": row.id,
        "kelurahan_code": row.kelurahan_code,
        "kecamatan_code": row.kecamatan_code,
        "name": row.name,
        "roles": list(row.roles),
        "status": row.status,
        "posyandu_id": row.posyandu_id,
        "posyandu_role": row.posyandu_role,
        "joined_on": row.joined_on,
    }


def audit_cadre(row: CadreRow | SimpleNamespace) -> dict[str, Any]:
    state = {k: v for k, v in cadre_state(row).items() if k != "cadre_id"}
    state["joined_on"] = str(row.joined_on) if row.joined_on else None
    return state


def has_contact(row: CadreRow | SimpleNamespace) -> bool:
    return any((row.phone, row.email, row.address))


def contact_event(cfg: RegistryConfig, row: CadreRow) -> CadreContactChanged:
    cipher = cfg.cipher("contact")
    return CadreContactChanged(
        cadre_id=row.id,
        key_id=cipher.key_id,
        changed_at=row.updated_at,
        phone_enc=cipher.encrypt(row.phone),
        email_enc=cipher.encrypt(row.email),
        address_enc=cipher.encrypt(row.address),
    )


def payment_event(cfg: RegistryConfig, row: CadreRow) -> CadrePaymentDetailsChanged:
    cipher = cfg.cipher("payment")
    return CadrePaymentDetailsChanged(
        cadre_id=row.id,
        key_id=cipher.key_id,
        changed_at=row.updated_at,
        method=row.payment_method,
        bank_enc=cipher.encrypt(row.payment_bank),
        account_number_enc=cipher.encrypt(row.payment_account_number),
        account_holder_enc=cipher.encrypt(row.payment_account_holder),
    )
