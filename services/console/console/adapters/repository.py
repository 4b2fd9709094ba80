"""The session store: every statement on console_sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from console.adapters.tables import SessionRow


async def add_session(session: AsyncSession, row: SessionRow) -> None:
    session.add(row)
    await session.commit()


async def get_session(session: AsyncSession, token_hash: str) -> SessionRow | None:
    return await session.get(SessionRow, token_hash)


async def save_session(session: AsyncSession, row: SessionRow) -> None:
    session.add(row)
    await session.commit()


async def delete_session(session: AsyncSession, token_hash: str) -> None:
    await session.exec(delete(SessionRow).where(col(SessionRow.token_hash) == token_hash))
    await session.commit()


async def delete_idle_before(session: AsyncSession, idle_before: datetime, created_before: datetime) -> int:
    """Expired sessions, idle or past their absolute lifetime."""
    result = await session.exec(
        delete(SessionRow).where(
            or_(col(SessionRow.last_seen_at) < idle_before, col(SessionRow.created_at) < created_before)
        )
    )
    await session.commit()
    return int(result.rowcount or 0)
