"""The cadre aggregate: registration, changes (public, identity, contact, payment),
assignment and transfer, deactivation and reactivation. Routes call these inside
`execute_write`; they never commit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters import repository
from registry.adapters.tables import AssignmentRow, CadreRow, PosyanduRow
from registry.config import RegistryConfig
from registry.domain import cadre as cadre_rules
from registry.domain.commands import CadreCreate, CadreSearch, CadreStatusChange, CadreUpdate, PaymentDetails
from registry.domain.errors import FieldError
from registry.domain.identity import check_nik, nik_hash
from registry.handlers.common import (
    audit_cadre,
    cadre_state,
    cadre_values,
    contact_event,
    domain_refusals,
    first_assignment,
    has_contact,
    invalid,
    kelurahan_of,
    payment_event,
    today,
)
from sikader_shared.errors import Conflict, NotFound
from sikader_shared.events import (
    CadreDeactivated,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    Event,
)
from sikader_shared.inbox import Handler
from sikader_shared.paging import Page, split_page
from sikader_shared.uow import UnitOfWork

# The registry consumes no events about cadres (it is their source).
EVENT_HANDLERS: dict[type[Event], Handler] = {}

DUPLICATE_NIK = "a cadre with this NIK is already registered"


async def find_cadre(session: AsyncSession, cadre_id: str) -> CadreRow:
    row = await session.get(CadreRow, cadre_id)
    if row is None:
        # The id is not echoed: a NIK pasted where the id belongs would come back in the answer.
        raise NotFound("no cadre with this id")
    return row


async def get_cadre(uow: UnitOfWork, cadre_id: str) -> CadreRow:
    return await find_cadre(uow.session, cadre_id)


def duplicate_nik(uow: UnitOfWork, existing_id: str) -> Conflict:
    """Which cadre holds the NIK only for registry:pii: otherwise a 409 would confirm a guessed NIK."""
    if uow.actor.has("registry:pii"):
        return Conflict(DUPLICATE_NIK, existing_cadre_id=existing_id)
    return Conflict(f"{DUPLICATE_NIK} (a registry:pii key sees which one)")


def check_identity(cfg: RegistryConfig, uow: UnitOfWork, nik: str, birth_date: date, sex: str) -> str:
    if birth_date > today(uow):
        raise FieldError("birth_date", "the birth date is in the future")
    return check_nik(nik, birth_date, sex, cfg.nik_prefixes)  # type: ignore[arg-type]


def _registered_events(cfg: RegistryConfig, row: CadreRow) -> list[Event]:
    events: list[Event] = [CadreRegistered(**cadre_state(row), registered_at=row.registered_at)]
    if has_contact(row):
        events.append(contact_event(cfg, row))
    if row.payment_method:
        events.append(payment_event(cfg, row))
    return events


async def _where_cadre_serves(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str | None, kelurahan_code: str | None
) -> PosyanduRow | tuple[str, str]:
    if posyandu_id is not None:
        posyandu = await uow.session.get(PosyanduRow, posyandu_id)
        if posyandu is None:
            raise invalid("posyandu_id", f"no Posyandu {posyandu_id}")
        if posyandu.status != "active":
            raise invalid("posyandu_id", f"the Posyandu is {posyandu.status}")
        if kelurahan_code is not None and kelurahan_code != posyandu.kelurahan_code:
            raise invalid("kelurahan_code", "the Posyandu is in another kelurahan")
        return posyandu
    assert kelurahan_code is not None  # CadreCreate requires one of the two
    return kelurahan_of(cfg, kelurahan_code)


async def _flush_unique_nik(uow: UnitOfWork) -> None:
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # the same NIK written concurrently
        raise Conflict(DUPLICATE_NIK) from exc


async def register_cadre(uow: UnitOfWork, cfg: RegistryConfig, cmd: CadreCreate) -> CadreRow:
    with domain_refusals():
        check_identity(cfg, uow, cmd.nik, cmd.birth_date, cmd.sex)
    where = await _where_cadre_serves(uow, cfg, cmd.posyandu_id, cmd.kelurahan_code)
    values = cadre_values(uow, cfg, cmd, where)
    row = CadreRow(**values)
    existing = await repository.cadre_ids_by_nik_hash(uow.session, [row.nik_hash])
    if existing:
        raise duplicate_nik(uow, existing[row.nik_hash])
    events = _registered_events(cfg, row)  # before adding: a missing key refuses the write
    uow.session.add(row)
    assignment = first_assignment(values, cmd.joined_on or today(uow))
    if assignment:
        uow.session.add(AssignmentRow(**assignment))
    await _flush_unique_nik(uow)
    for event in events:
        uow.emit(event)
    uow.audit("cadre.register", "cadre", row.id, None, audit_cadre(row))
    return row


# --------------------------------------------------------------------------- changes


@dataclass
class _Changed:
    """What an update changed, by kind: each kind has its own event (or none)."""

    identity: list[str] = field(default_factory=list)
    public: list[str] = field(default_factory=list)
    contact: list[str] = field(default_factory=list)
    payment: bool = False

    def any(self) -> bool:
        return bool(self.identity or self.public or self.contact or self.payment)


async def _apply_identity(uow: UnitOfWork, cfg: RegistryConfig, row: CadreRow, changes: dict[str, Any]) -> list[str]:
    """NIK, birth date and sex change together: they must agree, and a NIK stays unique."""
    nik = changes.get("nik", row.nik)
    birth_date = changes.get("birth_date", row.birth_date)
    sex = changes.get("sex", row.sex)
    changed = [f for f in ("nik", "birth_date", "sex") if f in changes and changes[f] != getattr(row, f)]
    if not changed:
        return changed
    with domain_refusals():
        check_identity(cfg, uow, nik, birth_date, sex)
    if "nik" in changed:
        new_hash = nik_hash(nik, cfg.nik_pepper)
        existing = await repository.cadre_ids_by_nik_hash(uow.session, [new_hash])
        if existing and existing[new_hash] != row.id:
            raise duplicate_nik(uow, existing[new_hash])
        row.nik, row.nik_hash = nik, new_hash
    row.birth_date, row.sex = birth_date, sex
    return changed


def _apply_public(row: CadreRow, changes: dict[str, Any]) -> list[str]:
    changed: list[str] = []
    for name in ("name", "roles", "joined_on"):
        if name in changes and changes[name] != getattr(row, name):
            setattr(row, name, list(dict.fromkeys(changes[name])) if name == "roles" else changes[name])
            changed.append(name)
    if "name" in changed:
        row.name_search = row.name.lower()
    if "posyandu_role" in changes and changes["posyandu_role"] != row.posyandu_role:
        if row.posyandu_id is None:
            raise invalid("posyandu_role", "the cadre is not assigned to a Posyandu")
        row.posyandu_role = changes["posyandu_role"]
        changed.append("posyandu_role")
    return changed


def _payment_of(row: CadreRow) -> tuple[str | None, ...]:
    return (row.payment_method, row.payment_bank, row.payment_account_number, row.payment_account_holder)


def _apply_payment(row: CadreRow, payment: PaymentDetails | None) -> bool:
    old = _payment_of(row)
    row.payment_method = payment.method if payment else None
    row.payment_bank = payment.bank if payment else None
    row.payment_account_number = payment.account_number if payment else None
    row.payment_account_holder = (payment.account_holder or row.name) if payment else None
    return old != _payment_of(row)


def _update_events(cfg: RegistryConfig, row: CadreRow, changed: _Changed) -> list[Event]:
    events: list[Event] = []
    if changed.public:
        events.append(CadreUpdated(**cadre_state(row), changed=changed.public, updated_at=row.updated_at))
    if changed.contact:
        events.append(contact_event(cfg, row))
    if changed.payment:
        events.append(payment_event(cfg, row))
    return events


async def update_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreUpdate) -> CadreRow:
    row = await get_cadre(uow, cadre_id)
    before = audit_cadre(row)
    changes = cmd.model_dump(exclude_unset=True)
    for required in ("nik", "name", "sex", "birth_date", "roles"):
        if required in changes and changes[required] is None:
            raise invalid(required, f"{required} cannot be removed")
    changed = _Changed(identity=await _apply_identity(uow, cfg, row, changes), public=_apply_public(row, changes))
    changed.contact = [f for f in ("phone", "email", "address") if f in changes and changes[f] != getattr(row, f)]
    for name in changed.contact:
        setattr(row, name, changes[name])
    changed.payment = "payment" in changes and _apply_payment(row, cmd.payment)
    if not changed.any():
        return row
    row.updated_at = uow.clock.now()
    events = _update_events(cfg, row, changed)
    uow.session.add(row)
    await _flush_unique_nik(uow)
    for event in events:
        uow.emit(event)
    after = audit_cadre(row)
    # Personal data stays out of the audit trail: it records which of those fields changed.
    after["personal_data_changed"] = changed.identity + changed.contact + (["payment"] if changed.payment else [])
    uow.audit("cadre.update", "cadre", row.id, before, after)
    return row


# --------------------------------------------------------------------------- status


def _place(row: CadreRow) -> cadre_rules.CadrePlace:
    return cadre_rules.CadrePlace(row.id, row.kelurahan_code, row.kecamatan_code, row.posyandu_id)


async def deactivate_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreStatusChange) -> CadreRow:
    row = await get_cadre(uow, cadre_id)
    on = cmd.effective_on or today(uow)
    with domain_refusals():
        event = cadre_rules.deactivation(row.status, _place(row), cmd.reason, on)
    return _change_status(uow, row, "inactive", event, "cadre.deactivate")


async def reactivate_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreStatusChange) -> CadreRow:
    row = await get_cadre(uow, cadre_id)
    on = cmd.effective_on or today(uow)
    with domain_refusals():
        event = cadre_rules.reactivation(row.status, _place(row), cmd.reason, on)
    return _change_status(uow, row, "active", event, "cadre.reactivate")


def _change_status(
    uow: UnitOfWork, row: CadreRow, status: str, event: CadreDeactivated | CadreReactivated, action: str
) -> CadreRow:
    """Apply a decided status change: record it, publish it, audit it."""
    before = row.status
    row.status, row.status_reason, row.status_since = status, event.reason, event.effective_on
    row.updated_at = uow.clock.now()
    uow.session.add(row)
    uow.emit(event)
    # The Posyandu in both snapshots: the audit trail per Posyandu finds cadre writes by it.
    where = {"posyandu_id": row.posyandu_id}
    after = {"status": status, "reason": event.reason, **where}
    uow.audit(action, "cadre", row.id, {"status": before, **where}, after)
    return row


# --------------------------------------------------------------------------- reads


async def list_cadres(
    session: AsyncSession, page: Page, offset: int, **filters: str | None
) -> tuple[list[tuple[CadreRow, str | None]], int, str | None]:
    """A page of the cadres matching `filters` (by name), each with its Posyandu's name, their
    total, and the next page's cursor. Without a cursor the page starts at `offset` (the older
    `page`)."""
    at = repository.Position(page.limit + 1, page.after(), 0 if page.cursor else offset)
    rows, total = await repository.list_cadres(session, repository.CadreFilter(**filters), at)
    rows, cursor = split_page(rows, page, lambda item: repository.cadre_key(item[0]))
    return rows, total, cursor


async def search_cadres(
    session: AsyncSession, cfg: RegistryConfig, search: CadreSearch
) -> tuple[list[tuple[CadreRow, str | None]], int]:
    """The POST search: an exact NIK is looked up by its hash (the caller checked the scope)."""
    filters = repository.CadreFilter(
        nik_hash(search.nik, cfg.nik_pepper) if search.nik else None,
        search.name,
        search.posyandu_id,
        search.kelurahan_code,
        search.kecamatan_code,
        search.status,
        search.role,
    )
    at = repository.Position(limit=search.page_size, offset=(search.page - 1) * search.page_size)
    return await repository.list_cadres(session, filters, at)
