"""Queries of the audit trail and the PII read log (the platform routes read them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.clock import utc
from sikader_shared.db import AuditRecord, PiiReadRecord


async def audit_trail(
    session: AsyncSession, entity_type: str, entity_id: str, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """One entity's audit entries after `after_id`, oldest first (up to `limit`)."""
    query = (
        select(AuditRecord)
        .where(col(AuditRecord.entity_type) == entity_type, col(AuditRecord.entity_id) == entity_id)
        .order_by(col(AuditRecord.id))
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(col(AuditRecord.id) > after_id)
    rows: Any = (await session.execute(query)).scalars()
    return [
        {
            "id": r.id,
            "at": utc(r.at),  # SQLite hands the time back without its zone
            "actor_client": r.actor_client,
            "actor_key": r.actor_key,
            "action": r.action,
            "before": r.before,
            "after": r.after,
            "correlation_id": r.correlation_id,
        }
        for r in rows
    ]


async def pii_reads(
    session: AsyncSession,
    *,
    entity_type: str | None,
    entity_id: str | None,
    actor_client: str | None,
    after_id: int | None,
    limit: int,
) -> list[dict[str, Any]]:
    """PII read log entries matching the filters after `after_id`, oldest first."""
    query = select(PiiReadRecord).order_by(col(PiiReadRecord.id)).limit(limit)
    for column, value in (
        (PiiReadRecord.entity_type, entity_type),
        (PiiReadRecord.entity_id, entity_id),
        (PiiReadRecord.actor_client, actor_client),
    ):
        if value is not None:
            query = query.where(col(column) == value)
    if after_id is not None:
        query = query.where(col(PiiReadRecord.id) > after_id)
    rows: Any = (await session.execute(query)).scalars()
    return [
        {
            "id": r.id,
            "at": utc(r.at),
            "actor_client": r.actor_client,
            "actor_key": r.actor_key,
            "entity_type": r.entity_type,
            "entity_id": r.entity_id,
            "fields": r.fields,
            "route": r.route,
        }
        for r in rows
    ]
