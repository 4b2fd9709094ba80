"""The registry's state as notifications needs it: cadres (name, roles, area, Posyandu),
Posyandu (name, area, Puskesmas, head cadre) and the cadres' contact details, still
encrypted. A re-published older event never overwrites a newer state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from notifications.adapters import repository as repo
from notifications.adapters.tables import CadreRow, ContactRow, PosyanduRow
from notifications.domain.projections import head_of, is_newer
from sikader_shared.envelope import Envelope
from sikader_shared.events import (
    CadreAssigned,
    CadreContactChanged,
    CadreDeactivated,
    CadreReactivated,
    CadreRegistered,
    CadreUpdated,
    Event,
    PosyanduRegistered,
    PosyanduUpdated,
)
from sikader_shared.inbox import Handler
from sikader_shared.uow import UnitOfWork

CadreEvent: TypeAlias = CadreRegistered | CadreUpdated | CadreAssigned | CadreDeactivated | CadreReactivated


_PRELOADED = "ntf.cadres"  # session.info: cadre id -> row (None: known to be absent)


async def preload_cadres(uow: UnitOfWork, events: Sequence[Event]) -> dict[str, CadreRow | None]:
    """The cadres a run of events projects, read in one query and held for the session: one
    SELECT (and one autoflush) per event otherwise. Returns the map (the caller holds it)."""
    ids = list({e.cadre_id for e in events if isinstance(e, CadreEvent)})
    known: dict[str, CadreRow | None] = dict.fromkeys(ids)
    known.update({row.cadre_id: row for row in await repo.cadres_by_id(uow.session, ids)})
    uow.session.info[_PRELOADED] = known
    return known


async def _cadre(uow: UnitOfWork, cadre_id: str) -> CadreRow | None:
    known: dict[str, CadreRow | None] | None = uow.session.info.get(_PRELOADED)
    if known is not None and cadre_id in known:
        return known[cadre_id]
    return await uow.session.get(CadreRow, cadre_id)


async def project_cadre(uow: UnitOfWork, event: CadreEvent, env: Envelope) -> None:
    row = await _cadre(uow, event.cadre_id)
    if row is not None and not is_newer(row.version_at, env.time):
        return
    if row is None:
        row = CadreRow(cadre_id=event.cadre_id, roles=[], version_at=env.time)
        known = uow.session.info.get(_PRELOADED)
        if known is not None:
            known[event.cadre_id] = row
    row.version_at = env.time
    if not isinstance(event, CadreAssigned) or event.primary:  # a secondary Posyandu moves no area
        row.kelurahan_code, row.kecamatan_code = event.kelurahan_code, event.kecamatan_code
    if isinstance(event, CadreRegistered | CadreUpdated):
        row.name, row.roles, row.status = event.name, list(event.roles), event.status
        row.posyandu_id, row.posyandu_role = event.posyandu_id, event.posyandu_role
    elif isinstance(event, CadreAssigned):
        if event.primary:
            row.posyandu_id, row.posyandu_role = event.posyandu_id, event.posyandu_role
    else:
        row.status = "inactive" if isinstance(event, CadreDeactivated) else "active"
    uow.session.add(row)


async def project_posyandu(uow: UnitOfWork, event: PosyanduRegistered | PosyanduUpdated, env: Envelope) -> None:
    row = await uow.session.get(PosyanduRow, event.posyandu_id)
    if row is not None and not is_newer(row.version_at, env.time):
        return
    row = row or PosyanduRow(posyandu_id=event.posyandu_id, version_at=env.time)
    row.name, row.puskesmas, row.head_cadre_id = event.name, event.puskesmas, head_of(event.management)
    row.kelurahan_code, row.kecamatan_code, row.version_at = event.kelurahan_code, event.kecamatan_code, env.time
    uow.session.add(row)


async def on_contact_changed(uow: UnitOfWork, event: CadreContactChanged, _env: Envelope) -> None:
    """Keep only what delivery needs (phone, email), still encrypted; never the address."""
    row = await uow.session.get(ContactRow, event.cadre_id)
    if row is not None and not is_newer(row.changed_at, event.changed_at):
        return
    row = row or ContactRow(cadre_id=event.cadre_id, changed_at=event.changed_at)
    row.phone_enc, row.email_enc, row.changed_at = event.phone_enc, event.email_enc, event.changed_at
    uow.session.add(row)


EVENT_HANDLERS: dict[type[Event], Handler] = {
    CadreRegistered: project_cadre,
    CadreUpdated: project_cadre,
    CadreAssigned: project_cadre,
    CadreDeactivated: project_cadre,
    CadreReactivated: project_cadre,
    PosyanduRegistered: project_posyandu,
    PosyanduUpdated: project_posyandu,
    CadreContactChanged: on_contact_changed,
}
