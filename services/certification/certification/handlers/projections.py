"""The local cadre projection, fed by the registry's events (never asked of the registry),
and the checks commands make against it. Certificates follow their holder's status.

Event handlers run inside the consumer's unit of work and never commit."""

from __future__ import annotations

from datetime import datetime

from certification.adapters import repository as repo
from certification.adapters.tables import CadreRow
from certification.domain.projection import is_newer, status_change
from certification.handlers import certificates
from sikader_shared.clock import utc
from sikader_shared.envelope import Envelope
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.events import CadreAssigned, CadreDeactivated, CadreReactivated, CadreRegistered, CadreUpdated
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler
from sikader_shared.uow import UnitOfWork


async def on_cadre_snapshot(uow: UnitOfWork, event: CadreRegistered | CadreUpdated, env: Envelope) -> None:
    """When the registry publishes a cadre's public state, keep our copy of it (only what
    certification needs: name, status, area, Posyandu)."""
    row = await _cadre_row(uow, event.cadre_id)
    at = utc(env.time)
    if is_newer(_ts(row.snapshot_at), at):
        row.name = event.name
        row.snapshot_at = at
    _apply_area(row, event, at)
    await _apply_status(uow, row, event.status, at)
    _save(uow, row)


async def on_cadre_assigned(uow: UnitOfWork, event: CadreAssigned, env: Envelope) -> None:
    """A transfer moves the cadre's area (certificate events carry it for area filters)."""
    if not event.primary:
        return
    row = await _cadre_row(uow, event.cadre_id)
    if _apply_area(row, event, utc(env.time)):
        _save(uow, row)


async def on_cadre_deactivated(uow: UnitOfWork, event: CadreDeactivated, env: Envelope) -> None:
    """When a cadre is deactivated, their certificates are suspended (never deleted)."""
    row = await _cadre_row(uow, event.cadre_id)
    await _apply_status(uow, row, "inactive", utc(env.time))
    _save(uow, row)


async def on_cadre_reactivated(uow: UnitOfWork, event: CadreReactivated, env: Envelope) -> None:
    """When a cadre is reactivated, the certificates suspended for it are restored."""
    row = await _cadre_row(uow, event.cadre_id)
    await _apply_status(uow, row, "active", utc(env.time))
    _save(uow, row)


EVENT_HANDLERS: dict[type[Event], Handler] = {
    CadreRegistered: on_cadre_snapshot,
    CadreUpdated: on_cadre_snapshot,
    CadreAssigned: on_cadre_assigned,
    CadreDeactivated: on_cadre_deactivated,
    CadreReactivated: on_cadre_reactivated,
}


# --------------------------------------------------------------------------- steps


async def _cadre_row(uow: UnitOfWork, cadre_id: str) -> CadreRow:
    row = await repo.get_cadre(uow.session, cadre_id)
    if row is None:
        row = CadreRow(cadre_id=cadre_id, updated_at=uow.clock.now())
        uow.session.add(row)
    return row


def _apply_area(row: CadreRow, event: CadreRegistered | CadreUpdated | CadreAssigned, at: datetime) -> bool:
    """The area and Posyandu, unless a newer assignment was applied already."""
    if not is_newer(_ts(row.assigned_at), at):
        return False
    row.kelurahan_code, row.kecamatan_code = event.kelurahan_code, event.kecamatan_code
    row.posyandu_id = event.posyandu_id
    row.assigned_at = at
    return True


async def _apply_status(uow: UnitOfWork, row: CadreRow, status: str, at: datetime) -> None:
    if not is_newer(_ts(row.status_at), at):
        return
    change = status_change(row.status, status)
    row.status = status
    row.status_at = at
    if change == "deactivated":
        await certificates.suspend_with_holder(uow, row)
    elif change == "reactivated":
        await certificates.restore_with_holder(uow, row)


def _save(uow: UnitOfWork, row: CadreRow) -> None:
    row.updated_at = uow.clock.now()
    uow.session.add(row)


def _ts(value: datetime | None) -> datetime | None:
    return utc(value) if value is not None else None


# --------------------------------------------------------------------------- checks for commands


async def require_active_cadre(uow: UnitOfWork, cadre_id: str) -> CadreRow:
    """The cadre, locked: certificate decisions are serialised per cadre (PostgreSQL)."""
    cadre = await repo.get_cadre(uow.session, cadre_id, lock=True)
    if cadre is None or cadre.name is None:
        raise NotFound("cadre not known to certification (no registry event seen yet)", cadre_id=cadre_id)
    if cadre.status != "active":
        raise Conflict("cadre is inactive: nothing is certified for an inactive cadre", cadre_id=cadre_id)
    return cadre


async def require_active_cadres(uow: UnitOfWork, cadre_ids: list[str], field: str) -> dict[str, CadreRow]:
    cadres = await repo.cadres_by_id(uow.session, cadre_ids)
    unknown = [c for c in cadre_ids if c not in cadres or cadres[c].name is None]
    if unknown:
        raise Invalid("cadres not known to certification (no registry event seen yet)", field=field, cadre_ids=unknown)
    inactive = [c for c in cadre_ids if cadres[c].status != "active"]
    if inactive:
        raise Conflict("inactive cadres cannot take part", field=field, cadre_ids=inactive)
    return cadres
