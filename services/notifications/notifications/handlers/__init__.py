"""The notifications handlers, one module per aggregate: projections (the registry's state),
messages (a public event kept and its deliveries planned), subscriptions, broadcasts,
deliveries (one attempt) and consent. `event_handlers` gathers the modules' event tables
into the one the consumer runs: a registry event is projected first, then planned."""

from __future__ import annotations

from notifications.config import NotificationsConfig
from notifications.handlers import messages, projections
from sikader_shared.envelope import Envelope
from sikader_shared.events import Event
from sikader_shared.inbox import Handler
from sikader_shared.uow import UnitOfWork


def _in_turn(*steps: Handler) -> Handler:
    async def handle(uow: UnitOfWork, event: Event, env: Envelope) -> None:
        for step in steps:
            await step(uow, event, env)

    return handle


def event_handlers(config: NotificationsConfig) -> dict[type[Event], Handler]:
    tables = [projections.EVENT_HANDLERS, messages.event_handlers(config)]
    gathered: dict[type[Event], Handler] = {}
    for event_type in dict.fromkeys(t for table in tables for t in table):
        steps = [table[event_type] for table in tables if event_type in table]
        gathered[event_type] = steps[0] if len(steps) == 1 else _in_turn(*steps)
    return gathered
