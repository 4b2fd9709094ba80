"""What changed between two calculated periods, as set-based SQL over the stored decisions:
the cadres added, dropped and whose amount moved, and the Posyandu whose verification state
differs between the two decision sets. One statement per count and per page, whatever the
number of cadres; the causes of a page's items are told by the domain from the decisions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters.calculation import collate, dialect_of
from incentives.adapters.repository import decision_of
from incentives.adapters.tables import DecisionRow, PeriodRow
from incentives.domain.changes import CADRE_KINDS, POSYANDU_KIND
from incentives.domain.periods import PeriodState
from incentives.domain.rules import Decision

_SIDES = """
    n AS (SELECT cadre_id, eligible, amount FROM decisions WHERE period = :p),
    o AS (SELECT cadre_id, eligible, amount FROM decisions WHERE period = :q)"""

# One SELECT of cadre ids per kind (the rows it yields are the kind's changes).
_CADRE_SQL = {
    "added": "SELECT n.cadre_id FROM n LEFT JOIN o ON o.cadre_id = n.cadre_id "
    "WHERE n.eligible AND (o.cadre_id IS NULL OR NOT o.eligible)",
    "dropped": "SELECT o.cadre_id FROM o LEFT JOIN n ON n.cadre_id = o.cadre_id "
    "WHERE o.eligible AND (n.cadre_id IS NULL OR NOT n.eligible)",
    "amount_changed": "SELECT n.cadre_id FROM n JOIN o ON o.cadre_id = n.cadre_id "
    "WHERE n.eligible AND o.eligible AND n.amount <> o.amount",
}
assert tuple(_CADRE_SQL) == CADRE_KINDS

_POSYANDU_SIDE = (
    "SELECT posyandu_id, MAX(posyandu_name) AS name, MAX(kelurahan_code) AS kel, MAX(kecamatan_code) AS kec, "
    "MAX(verification_status) AS vs, MAX(verification_on) AS von, MAX(verification_event_id) AS vid "
    "FROM decisions WHERE period = {period} AND posyandu_id IS NOT NULL GROUP BY posyandu_id"
)
_POSYANDU_SQL = (
    f"WITH pn AS ({_POSYANDU_SIDE.format(period=':p')}), po AS ({_POSYANDU_SIDE.format(period=':q')}) "
    "SELECT pn.posyandu_id, pn.name, pn.kel, pn.kec, po.vs AS vs_before, po.von AS von_before, "
    "po.vid AS vid_before, pn.vs, pn.von, pn.vid, y.verification_event_type "
    "FROM pn JOIN po ON po.posyandu_id = pn.posyandu_id "
    "LEFT JOIN posyandu y ON y.posyandu_id = pn.posyandu_id AND y.verification_event_id = pn.vid "
    "WHERE COALESCE(pn.vs, '') <> COALESCE(po.vs, '')"
)


async def previous_calculated(session: AsyncSession, period: str) -> PeriodRow | None:
    """The latest period before `period` that has a calculation (any state after open)."""
    rows = await session.exec(
        select(PeriodRow)
        .where(
            col(PeriodRow.period) < period,
            col(PeriodRow.state) != PeriodState.OPEN.value,
            col(PeriodRow.policy_version).is_not(None),
        )
        .order_by(col(PeriodRow.period).desc())
        .limit(1)
    )
    return rows.first()


async def counts(session: AsyncSession, period: str, previous: str) -> dict[str, int]:
    """How many of each kind of change, in one statement."""
    parts = [f"SELECT '{kind}' AS kind, COUNT(*) AS n FROM ({sql}) x" for kind, sql in _CADRE_SQL.items()]
    parts.append(f"SELECT '{POSYANDU_KIND}' AS kind, COUNT(*) AS n FROM ({_POSYANDU_SQL}) y")
    # the Posyandu part has its own WITH: it stands in a subquery of its own
    stmt = f"WITH {_SIDES} " + " UNION ALL ".join(parts)
    rows = await session.execute(text(stmt), {"p": period, "q": previous})
    return {kind: int(n) for kind, n in rows.tuples()}


async def cadre_page(
    session: AsyncSession, period: str, previous: str, kind: str, after: str | None, limit: int
) -> list[tuple[str, Decision | None, Decision | None]]:
    """A page of one kind of cadre change by cadre id (byte order), after a cadre id: each
    with its decision in the previous period and in this one (None where it has none)."""
    c = collate(dialect_of(session))
    where = f"WHERE cadre_id{c} > :after" if after is not None else ""
    stmt = f"WITH {_SIDES} SELECT cadre_id FROM ({_CADRE_SQL[kind]}) x {where} ORDER BY cadre_id{c} LIMIT :limit"
    params: dict[str, Any] = {"p": period, "q": previous, "limit": limit}
    if after is not None:
        params["after"] = after
    ids = [r[0] for r in (await session.execute(text(stmt), params)).tuples()]
    decided = await _decisions(session, (period, previous), ids)
    return [(i, decided.get((previous, i)), decided.get((period, i))) for i in ids]


async def _decisions(
    session: AsyncSession, periods: Sequence[str], ids: Sequence[str]
) -> dict[tuple[str, str], Decision]:
    if not ids:
        return {}
    rows = await session.exec(
        select(DecisionRow).where(col(DecisionRow.period).in_(list(periods)), col(DecisionRow.cadre_id).in_(ids))
    )
    return {(r.period, r.cadre_id): decision_of(r) for r in rows.all()}


async def posyandu_page(
    session: AsyncSession, period: str, previous: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """A page of the Posyandu whose verification state differs, by Posyandu id."""
    c = collate(dialect_of(session))
    where = f"WHERE posyandu_id{c} > :after" if after is not None else ""
    stmt = f"SELECT * FROM ({_POSYANDU_SQL}) y {where} ORDER BY posyandu_id{c} LIMIT :limit"
    params: dict[str, Any] = {"p": period, "q": previous, "limit": limit}
    if after is not None:
        params["after"] = after
    keys = (
        "posyandu_id",
        "posyandu_name",
        "kelurahan_code",
        "kecamatan_code",
        "status_before",
        "status_before_on",
        "event_id_before",
        "status_now",
        "status_now_on",
        "event_id",
        "event_type",
    )
    return [dict(zip(keys, r, strict=True)) for r in (await session.execute(text(stmt), params)).tuples()]
