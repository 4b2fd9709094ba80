"""The Posyandu aggregate: registration, changes, facility assessments, verification,
closure and merger. Routes call these inside `execute_write`; they never commit."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters import repository
from registry.adapters.tables import CadreRow, PosyanduRow
from registry.config import RegistryConfig
from registry.domain import posyandu as posyandu_rules
from registry.domain.commands import (
    PosyanduClosure,
    PosyanduCreate,
    PosyanduUpdate,
)
from registry.handlers.assignments import move_cadre
from registry.handlers.common import (
    audit_cadre,
    audit_posyandu,
    cadre_state,
    domain_refusals,
    invalid,
    kelurahan_of,
    posyandu_state,
    today,
)
from sikader_shared.db import AuditRecord
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import (
    CadreUpdated,
    PosyanduClosed,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler
from sikader_shared.paging import Page, split_page
from sikader_shared.uow import UnitOfWork

# The registry consumes no events about Posyandu (it is their source).
EVENT_HANDLERS: dict[type[Event], Handler] = {}

NO_NAME = "the name has no letters or digits besides 'Posyandu'"
_PUBLISHED_FIELDS = {"name", "posyandu_type", "rt", "rw", "institution", "management", "puskesmas"}


async def find_posyandu(session: AsyncSession, posyandu_id: str) -> PosyanduRow:
    row = await session.get(PosyanduRow, posyandu_id)
    if row is None:
        raise NotFound(f"no Posyandu {posyandu_id}")
    return row


async def get_posyandu(uow: UnitOfWork, posyandu_id: str) -> PosyanduRow:
    return await find_posyandu(uow.session, posyandu_id)


async def _check_management(uow: UnitOfWork, management: list[dict[str, Any]]) -> None:
    missing = await repository.missing_cadres(uow.session, {m["cadre_id"] for m in management if m.get("cadre_id")})
    if missing:
        raise invalid("management", f"no cadre {missing[0]}")


async def _check_unique_name(uow: UnitOfWork, kelurahan_code: str, name_key: str, own_id: str | None) -> None:
    existing = await repository.posyandu_named(uow.session, kelurahan_code, name_key)
    if existing is not None and existing != own_id:
        raise Conflict(
            "a Posyandu with this name is already registered in this kelurahan", existing_posyandu_id=existing
        )


def new_posyandu(uow: UnitOfWork, cfg: RegistryConfig, cmd: PosyanduCreate) -> PosyanduRow:
    kelurahan_code, kecamatan_code = kelurahan_of(cfg, cmd.kelurahan_code)
    now = uow.clock.now()
    return PosyanduRow(
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


def registered_event(row: PosyanduRow) -> PosyanduRegistered:
    return PosyanduRegistered(**posyandu_state(row), registered_at=row.registered_at)


async def register_posyandu(uow: UnitOfWork, cfg: RegistryConfig, cmd: PosyanduCreate) -> PosyanduRow:
    row = new_posyandu(uow, cfg, cmd)
    if not row.name_key:
        raise invalid("name", NO_NAME)
    await _check_unique_name(uow, row.kelurahan_code, row.name_key, None)
    await _check_management(uow, row.management)
    uow.session.add(row)
    uow.emit(registered_event(row))
    uow.audit("posyandu.register", "posyandu", row.id, None, audit_posyandu(row))
    return row


async def _checked_changes(uow: UnitOfWork, row: PosyanduRow, cmd: PosyanduUpdate) -> dict[str, Any]:
    """The fields the command changes, checked (the new name's key is set on the row)."""
    changes = cmd.model_dump(mode="json", exclude_unset=True)
    for required in ("name", "posyandu_type"):
        if required in changes and changes[required] is None:
            raise invalid(required, f"{required} cannot be removed")
    lat = changes.get("latitude", row.latitude)
    lon = changes.get("longitude", row.longitude)
    if (lat is None) != (lon is None):
        raise invalid("latitude", "give both latitude and longitude, or neither")
    if "name" in changes:
        name_key = posyandu_rules.normalise_name(changes["name"])
        if not name_key:
            raise invalid("name", NO_NAME)
        await _check_unique_name(uow, row.kelurahan_code, name_key, row.id)
        row.name_key = name_key
    if "management" in changes:
        changes["management"] = changes["management"] or []
        await _check_management(uow, changes["management"])
    return changes


async def update_posyandu(uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: PosyanduUpdate) -> PosyanduRow:
    row = await get_posyandu(uow, posyandu_id)
    if row.status != "active":
        raise Conflict(f"the Posyandu is {row.status}; it can no longer be changed")
    before = audit_posyandu(row)
    changed = []
    for name, value in (await _checked_changes(uow, row, cmd)).items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    if not changed:
        return row
    row.updated_at = uow.clock.now()
    uow.session.add(row)
    published = sorted(set(changed) & _PUBLISHED_FIELDS)
    if published:
        uow.emit(PosyanduUpdated(**posyandu_state(row), changed=published, updated_at=row.updated_at))
    uow.audit("posyandu.update", "posyandu", row.id, before, audit_posyandu(row))
    return row


# --------------------------------------------------------------------------- closure


async def close_posyandu(
    uow: UnitOfWork, cfg: RegistryConfig, posyandu_id: str, cmd: PosyanduClosure
) -> dict[str, Any]:
    """Close a Posyandu, or merge it into another; its cadres move to the receiving Posyandu
    (their assignment history keeps the old one)."""
    row = await get_posyandu(uow, posyandu_id)
    target_id = cmd.merged_into_posyandu_id if cmd.closure == "merged" else cmd.reassign_to_posyandu_id
    target = await uow.session.get(PosyanduRow, target_id) if target_id else None
    with domain_refusals():
        posyandu_rules.check_closure(row.id, row.status, cmd.closure, target_id, target.status if target else None)
    closed_on = cmd.closed_on or today(uow)
    before = {"status": row.status}
    _mark_closed(uow, row, cmd, target, closed_on)
    cadres = await repository.cadres_at(uow.session, row.id)
    moved = [c.id for c in cadres] if target else []
    uow.emit(
        PosyanduClosed(
            posyandu_id=row.id,
            kelurahan_code=row.kelurahan_code,
            kecamatan_code=row.kecamatan_code,
            name=row.name,
            closure=cmd.closure,
            merged_into_posyandu_id=row.merged_into_id,
            reason=cmd.reason,
            closed_on=closed_on,
            reassigned_cadre_ids=moved,
        )
    )
    reason = "posyandu_merged" if cmd.closure == "merged" else "posyandu_closed"
    for cadre in cadres:
        await _release_cadre(uow, cadre, target, closed_on, reason)
    after = {"status": row.status, "merged_into": row.merged_into_id, "cadres_moved": len(moved)}
    uow.audit("posyandu.close", "posyandu", row.id, before, after)
    return {
        "posyandu_id": row.id,
        "status": row.status,
        "merged_into_posyandu_id": row.merged_into_id,
        "closed_on": closed_on,
        "reassigned_cadre_ids": moved,
        "unassigned_cadre_ids": [] if target else [c.id for c in cadres],
    }


def _mark_closed(
    uow: UnitOfWork, row: PosyanduRow, cmd: PosyanduClosure, target: PosyanduRow | None, closed_on: date
) -> None:
    row.status = cmd.closure
    row.merged_into_id = target.id if (target and cmd.closure == "merged") else None
    row.closed_on = closed_on
    row.closure_reason = cmd.reason
    row.updated_at = uow.clock.now()
    uow.session.add(row)


async def _release_cadre(
    uow: UnitOfWork, cadre: CadreRow, target: PosyanduRow | None, closed_on: date, reason: str
) -> None:
    """A cadre of a closed Posyandu: moved to the receiving one, or left unassigned."""
    before = audit_cadre(cadre)
    await repository.end_primary_assignment(uow.session, cadre.id, closed_on, reason)
    if target is not None:
        move_cadre(uow, cadre, target, cadre.posyandu_role, closed_on, reason)
        uow.audit("cadre.assign", "cadre", cadre.id, before, {**audit_cadre(cadre), "reason": reason})
        return
    cadre.posyandu_id = None
    cadre.posyandu_role = None
    cadre.updated_at = uow.clock.now()
    uow.session.add(cadre)
    uow.emit(CadreUpdated(**cadre_state(cadre), changed=["posyandu_id", "posyandu_role"], updated_at=cadre.updated_at))
    uow.audit("cadre.unassign", "cadre", cadre.id, before, {**audit_cadre(cadre), "reason": reason})


# --------------------------------------------------------------------------- reads


async def list_posyandu(
    session: AsyncSession, page: Page, offset: int, **filters: Any
) -> tuple[list[PosyanduRow], int, str | None]:
    """A page of the Posyandu matching `filters` (by kelurahan and name), their total, and
    the next page's cursor. Without a cursor the page starts at `offset` (the older `page`)."""
    at = repository.Position(page.limit + 1, page.after(), 0 if page.cursor else offset)
    rows, total = await repository.list_posyandu(session, repository.PosyanduFilter(**filters), at)
    rows, cursor = split_page(rows, page, repository.posyandu_key)
    return rows, total, cursor


async def map_points(session: AsyncSession, **filters: Any) -> list[Any]:
    """Every Posyandu matching `filters`, as (id, name, type, kecamatan, kelurahan, status,
    facility, verification, latitude, longitude) tuples, unpaged (the city's map)."""
    return await repository.posyandu_points(session, repository.PosyanduFilter(**filters))


async def audit_trail(
    session: AsyncSession, posyandu_id: str, page: Page, after: int | None
) -> tuple[list[AuditRecord], str | None]:
    """A page of everything written about the Posyandu (its own writes and its cadres'),
    oldest first; `after` (an audit id) is the older form of the cursor."""
    await find_posyandu(session, posyandu_id)
    key = page.after()
    if key is not None and not isinstance(key[0], int):
        raise Invalid("cursor is not one for this list", field="cursor")
    rows = await repository.posyandu_audit(session, posyandu_id, key[0] if key else after, page.limit + 1)
    return split_page(rows, page, lambda r: [r.id])


async def mapping_statistics(session: AsyncSession, cfg: RegistryConfig) -> dict[str, Any]:
    return await repository.mapping_statistics(session, cfg.wilayah)
