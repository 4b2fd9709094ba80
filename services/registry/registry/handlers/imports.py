"""The bulk imports (CSV): every good row registered, every bad one reported with its line,
field and reason. The rows go in with one statement per table (COPY on PostgreSQL) and the
events and audit entries in bulk: no row object and no query per imported row."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from types import SimpleNamespace
from typing import Any

from registry.adapters import repository
from registry.adapters.tables import AssignmentRow, CadreRow, FacilityAssessmentRow, PosyanduRow
from registry.config import RegistryConfig
from registry.domain import posyandu as posyandu_rules
from registry.domain.csvfiles import CadreLine, Parsed, PosyanduLine, RowError
from registry.domain.errors import FieldError
from registry.handlers.cadres import check_identity
from registry.handlers.common import (
    audit_cadre,
    audit_posyandu,
    cadre_state,
    cadre_values,
    first_assignment,
    has_contact,
    today,
)
from registry.handlers.facility import assessed_event, new_assessment
from registry.handlers.posyandu import NO_NAME, new_posyandu, registered_event
from sikader_shared.errors import Invalid
from sikader_shared.events import CadreContactChanged, CadrePaymentDetailsChanged, CadreRegistered, Event
from sikader_shared.inbox import Handler
from sikader_shared.uow import UnitOfWork

# Imports are commands only.
EVENT_HANDLERS: dict[type[Event], Handler] = {}


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


@contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Building ~5 rows and ~2.5 events per cadre allocates millions of short-lived objects
    and no cycles: the cyclic GC would only rescan them, so it pauses meanwhile."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# --------------------------------------------------------------------------- cadres


class _Places:
    """Where the rows' cadres serve: the Posyandu the rows name (by id, or by kelurahan and
    name), loaded with one query each, or a kelurahan of the wilayah."""

    def __init__(self, by_id: dict[str, PosyanduRow], by_name: dict[tuple[str, str], PosyanduRow]) -> None:
        self.by_id, self.by_name = by_id, by_name

    @classmethod
    async def load(cls, uow: UnitOfWork, lines: list[CadreLine]) -> _Places:
        ids = {r.command.posyandu_id for r in lines if r.command.posyandu_id}
        kelurahan = {r.command.kelurahan_code for r in lines if r.posyandu_name and r.command.kelurahan_code}
        by_id = await repository.posyandu_by_id(uow.session, ids)
        by_name = await repository.active_posyandu_by_name(uow.session, kelurahan)
        return cls(by_id, by_name)

    def of(self, cfg: RegistryConfig, line: CadreLine) -> PosyanduRow | tuple[str, str]:
        cmd = line.command
        if cmd.posyandu_id:
            found = self.by_id.get(cmd.posyandu_id)
            if found is None or found.status != "active":
                raise FieldError("posyandu_id", "no active Posyandu with this id")
            if cmd.kelurahan_code and cmd.kelurahan_code != found.kelurahan_code:
                raise FieldError("kelurahan_code", "the Posyandu is in another kelurahan")
            return found
        if line.posyandu_name:
            assert cmd.kelurahan_code is not None
            named = self.by_name.get((cmd.kelurahan_code, posyandu_rules.normalise_name(line.posyandu_name)))
            if named is None:
                raise FieldError("posyandu_name", "no active Posyandu of this name in the kelurahan")
            return named
        kel = cfg.wilayah.kelurahan(cmd.kelurahan_code or "")
        if kel is None:
            raise FieldError("kelurahan_code", "unknown kelurahan")
        return kel.code, kel.kecamatan_code


def _identities_checked(
    cfg: RegistryConfig, uow: UnitOfWork, parsed: Parsed, errors: list[RowError]
) -> list[CadreLine]:
    kept: list[CadreLine] = []
    for line in parsed.rows:
        cmd = line.command
        try:
            check_identity(cfg, uow, cmd.nik, cmd.birth_date, cmd.sex)
        except FieldError as exc:
            errors.append(RowError(line.line, exc.field, exc.reason))
            continue
        kept.append(line)
    return kept


def _cadre_rows(
    uow: UnitOfWork, cfg: RegistryConfig, lines: list[CadreLine], places: _Places, errors: list[RowError]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The new cadres' values, and the file line of each NIK (a NIK twice in the file is an
    error on its second line)."""
    values: list[dict[str, Any]] = []
    line_of: dict[str, int] = {}
    for line in lines:
        try:
            where = places.of(cfg, line)
        except FieldError as exc:
            errors.append(RowError(line.line, exc.field, exc.reason))
            continue
        cadre = cadre_values(uow, cfg, line.command, where)
        if cadre["nik_hash"] in line_of:
            errors.append(RowError(line.line, "nik", f"the same NIK is already on line {line_of[cadre['nik_hash']]}"))
            continue
        line_of[cadre["nik_hash"]] = line.line
        values.append(cadre)
    return values, line_of


def _imported_cadre_events(cfg: RegistryConfig, views: list[SimpleNamespace]) -> list[Event]:
    """Per imported cadre, in order: registered, contact, payment (as a single registration
    raises them), with all private fields encrypted in two bulk calls."""
    contact, payment = cfg.cipher("contact"), cfg.cipher("payment")
    with_contact = [v for v in views if has_contact(v)]
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
        if has_contact(v):
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


def _queue_new_cadres(uow: UnitOfWork, cfg: RegistryConfig, new: list[dict[str, Any]]) -> None:
    """Rows, first assignments, events and audit entries of the new cadres, queued in bulk."""
    start = today(uow)
    assignments: list[dict[str, Any]] = []
    audits: list[tuple[str, None, dict[str, Any]]] = []
    with _without_cyclic_gc():
        views = [SimpleNamespace(**r) for r in new]
        events = _imported_cadre_events(cfg, views)
        for r, view in zip(new, views, strict=True):
            a = first_assignment(r, r["joined_on"] or start)
            if a is not None:
                assignments.append(a)
            audits.append((r["id"], None, audit_cadre(view)))
        uow.add_rows(CadreRow, new)
        uow.add_rows(AssignmentRow, assignments)
        uow.emit_many(events)
        uow.audit_many("cadre.import", "cadre", audits)


async def import_cadres(uow: UnitOfWork, cfg: RegistryConfig, parsed: Parsed) -> dict[str, Any]:
    """Register every good row; report each bad one. Keyed by NIK: a cadre already in the
    register (or twice in the file) is not registered again."""
    errors = list(parsed.errors)
    lines = _identities_checked(cfg, uow, parsed, errors)
    places = await _Places.load(uow, lines)
    values, line_of = _cadre_rows(uow, cfg, lines, places, errors)
    known = await repository.cadre_ids_by_nik_hash(uow.session, [r["nik_hash"] for r in values])
    existing = [
        {"line": line_of[r["nik_hash"]], "cadre_id": known[r["nik_hash"]]} for r in values if r["nik_hash"] in known
    ]
    new = [r for r in values if r["nik_hash"] not in known]
    _queue_new_cadres(uow, cfg, new)
    await uow.flush()
    registered = [{"line": line_of[r["nik_hash"]], "cadre_id": r["id"]} for r in new]
    return _report(parsed, registered, existing, errors)


# --------------------------------------------------------------------------- Posyandu


def _posyandu_candidates(
    uow: UnitOfWork, cfg: RegistryConfig, parsed: Parsed, errors: list[RowError]
) -> list[tuple[PosyanduLine, PosyanduRow]]:
    """The good rows as new Posyandu (not yet stored); a Posyandu twice in the file is an
    error on its second line."""
    candidates: list[tuple[PosyanduLine, PosyanduRow]] = []
    seen: dict[tuple[str, str], int] = {}
    for line in parsed.rows:
        try:
            row = new_posyandu(uow, cfg, line.command)
        except Invalid as exc:
            errors.append(RowError(line.line, "kelurahan_code", exc.message))
            continue
        if not row.name_key:
            errors.append(RowError(line.line, "name", NO_NAME))
            continue
        if line.assessment is not None and line.assessment.assessed_on > today(uow):
            errors.append(RowError(line.line, "assessed_on", "the assessment date is in the future"))
            continue
        key = (row.kelurahan_code, row.name_key)
        if key in seen:
            errors.append(RowError(line.line, "name", f"the same Posyandu is already on line {seen[key]}"))
            continue
        seen[key] = line.line
        candidates.append((line, row))
    return candidates


def _queue_new_posyandu(uow: UnitOfWork, new: list[tuple[PosyanduLine, PosyanduRow]]) -> None:
    events: list[Event] = []
    assessments: list[FacilityAssessmentRow] = []
    for line, row in new:
        events.append(registered_event(row))
        if line.assessment is not None:
            assessment = new_assessment(uow, row.id, line.assessment)
            row.facility_status = assessment.facility_status
            row.latest_assessment_id = assessment.id
            assessments.append(assessment)
            events.append(assessed_event(row, assessment))
    uow.audit_many("posyandu.import", "posyandu", [(row.id, None, audit_posyandu(row)) for _, row in new])
    uow.add_rows(PosyanduRow, [row.model_dump() for _, row in new])
    uow.add_rows(FacilityAssessmentRow, [a.model_dump() for a in assessments])
    uow.emit_many(events)


async def import_posyandu(uow: UnitOfWork, cfg: RegistryConfig, parsed: Parsed) -> dict[str, Any]:
    """Register every good row (with its facility assessment when the row has one). Keyed by
    kelurahan + normalised name: a Posyandu already registered is not registered again."""
    errors = list(parsed.errors)
    candidates = _posyandu_candidates(uow, cfg, parsed, errors)
    known = await repository.posyandu_ids_by_name(uow.session, sorted({r.kelurahan_code for _, r in candidates}))
    existing = [
        {"line": line.line, "posyandu_id": known[(r.kelurahan_code, r.name_key)]}
        for line, r in candidates
        if (r.kelurahan_code, r.name_key) in known
    ]
    new = [(line, r) for line, r in candidates if (r.kelurahan_code, r.name_key) not in known]
    _queue_new_posyandu(uow, new)
    await uow.flush()
    registered = [{"line": line.line, "posyandu_id": r.id} for line, r in new]
    return _report(parsed, registered, existing, errors)
