"""A cadre's Posyandu: assignment as primary, transfer (the previous assignment is closed,
never rewritten), and the move that closing a Posyandu makes for its cadres."""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from registry.adapters import repository
from registry.adapters.tables import AssignmentRow, CadreRow, PosyanduRow
from registry.config import RegistryConfig
from registry.domain import cadre as cadre_rules
from registry.domain.commands import CadreAssign
from registry.handlers.cadres import find_cadre, get_cadre
from registry.handlers.common import audit_cadre, domain_refusals, invalid, today
from sikader_shared.events import CadreAssigned, Event
from sikader_shared.inbox import Handler
from sikader_shared.paging import Page, split_page
from sikader_shared.uow import UnitOfWork

# The registry consumes no events about assignments (it is their source).
EVENT_HANDLERS: dict[type[Event], Handler] = {}


def move_cadre(
    uow: UnitOfWork, cadre: CadreRow, target: PosyanduRow, role: str | None, on: date, reason: str | None
) -> None:
    """Make `target` the cadre's primary Posyandu from `on` (the previous assignment is
    closed by the caller) and publish CadreAssigned."""
    previous = cadre.posyandu_id
    cadre.posyandu_id = target.id
    cadre.posyandu_role = role
    cadre.kelurahan_code = target.kelurahan_code
    cadre.kecamatan_code = target.kecamatan_code
    cadre.updated_at = uow.clock.now()
    uow.session.add(cadre)
    uow.session.add(
        AssignmentRow(
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


async def assign_cadre(uow: UnitOfWork, cfg: RegistryConfig, cadre_id: str, cmd: CadreAssign) -> CadreRow:
    """Assign a cadre to a Posyandu as primary, or transfer them; the previous assignment
    is closed, not overwritten."""
    row = await get_cadre(uow, cadre_id)
    target = await uow.session.get(PosyanduRow, cmd.posyandu_id)
    if target is None:
        raise invalid("posyandu_id", f"no Posyandu {cmd.posyandu_id}")
    with domain_refusals():
        cadre_rules.check_assignment(row.status, row.posyandu_id, target.id, target.status)
    on = cmd.assigned_on or today(uow)
    before = audit_cadre(row)
    reason = cmd.reason or ("transfer" if row.posyandu_id else "assignment")
    await repository.end_primary_assignment(uow.session, row.id, on, reason)
    move_cadre(uow, row, target, cmd.posyandu_role, on, reason)
    uow.audit("cadre.assign", "cadre", row.id, before, audit_cadre(row))
    return row


async def history(session: AsyncSession, cadre_id: str, page: Page) -> tuple[list[AssignmentRow], str | None]:
    """A page of the cadre's assignments, oldest first, and the next page's cursor."""
    await find_cadre(session, cadre_id)
    rows = await repository.assignments(session, cadre_id, repository.Position(page.limit + 1, page.after()))
    return split_page(rows, page, lambda r: [r.id])
