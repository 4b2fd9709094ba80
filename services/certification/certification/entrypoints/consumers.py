"""Registry events this service applies (its cadre projection), mapped to handlers."""

from __future__ import annotations

from certification import handlers
from sikader_shared.events import CadreAssigned, CadreDeactivated, CadreReactivated, CadreRegistered, CadreUpdated
from sikader_shared.events.base import Event
from sikader_shared.inbox import Handler

EVENT_HANDLERS: dict[type[Event], Handler] = {
    CadreRegistered: handlers.on_cadre_snapshot,
    CadreUpdated: handlers.on_cadre_snapshot,
    CadreAssigned: handlers.on_cadre_assigned,
    CadreDeactivated: handlers.on_cadre_deactivated,
    CadreReactivated: handlers.on_cadre_reactivated,
}
