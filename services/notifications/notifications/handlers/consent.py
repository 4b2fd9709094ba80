"""A cadre's consent per channel, through the signed link at the end of every message:
unsubscribe (pending messages on that channel are skipped) and subscribe again."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from notifications.adapters import repository as repo
from notifications.adapters.tables import OptOutRow
from notifications.config import NotificationsConfig
from notifications.domain.signing import read_unsubscribe_token
from sikader_shared.errors import NotFound
from sikader_shared.uow import UnitOfWork


def _read(config: NotificationsConfig, token: str) -> tuple[str, str]:
    parsed = read_unsubscribe_token(config.unsubscribe_secret, token)
    if parsed is None:
        raise NotFound("this unsubscribe link is not valid")
    return parsed


async def consent_state(session: AsyncSession, config: NotificationsConfig, token: str) -> tuple[str, str, bool]:
    """(cadre, channel, opted out?) for a signed unsubscribe token; changes nothing."""
    cadre_id, channel = _read(config, token)
    return cadre_id, channel, await repo.is_opted_out(session, cadre_id, channel)


async def unsubscribe(uow: UnitOfWork, config: NotificationsConfig, token: str) -> tuple[str, str]:
    """Record the opt-out named by a signed token; pending messages on that channel are skipped."""
    cadre_id, channel = _read(config, token)
    if await repo.add_opt_out(uow.session, cadre_id, channel, uow.clock.now()):
        uow.audit("cadre.unsubscribe", "cadre", cadre_id, None, {"channel": channel})
    for row in await repo.pending_cadre_messages(uow.session, cadre_id, channel):
        row.status, row.last_error = "skipped", "unsubscribed"
        uow.session.add(row)
    return cadre_id, channel


async def resubscribe(uow: UnitOfWork, config: NotificationsConfig, token: str) -> tuple[str, str]:
    """Undo an opt-out named by a signed token: later messages on that channel go out again."""
    cadre_id, channel = _read(config, token)
    row = await uow.session.get(OptOutRow, (cadre_id, channel))
    if row is not None:
        await uow.session.delete(row)
        uow.audit("cadre.resubscribe", "cadre", cadre_id, {"channel": channel}, None)
    return cadre_id, channel
