"""The period calculation as set-based SQL (SQLite and PostgreSQL): one INSERT ... SELECT
evaluates every cadre with window functions, mirroring `domain.rules.evaluate` rule for rule
(a test checks that both decide the same)."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.domain.periods import Period
from incentives.domain.policy import LEVEL_RANK, RULE_BIT, Policy
from incentives.domain.rules import HASH_COLUMNS, decision_line

DECISION_COLUMNS: tuple[str, ...] = (
    "cadre_id",
    "posyandu_id",
    "kelurahan_code",
    "kecamatan_code",
    "cadre_status",
    "deactivated_on",
    "reactivated_on",
    "cadre_event_id",
    "assignment_event_id",
    "certificate_id",
    "certificate_number",
    "level",
    "certificate_status",
    "certificate_status_on",
    "certificate_valid_from",
    "certificate_expires_on",
    "certificate_event_id",
    "posyandu_name",
    "verification_status",
    "verification_on",
    "verification_event_id",
    "posyandu_status",
    "posyandu_closed_on",
    "posyandu_event_id",
    "failed_mask",
    "posyandu_rank",
    "eligible",
    "amount",
)


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def collate(dialect: str) -> str:
    """Byte order for text in ORDER BY, as Python sorts (PostgreSQL's locale order differs)."""
    return ' COLLATE "C"' if dialect == "postgresql" else ""


def date_param(dialect: str, d: date) -> Any:
    return d if dialect == "postgresql" else d.isoformat()


def evaluation_ctes(dialect: str, policy: Policy, *, apply_budget: bool) -> str:
    """CTEs ending in `final` (one row per cadre of the period, DECISION_COLUMNS). Bind
    parameters: :start and :end (the period's first and last day). Policy numbers are
    validated integers and written into the statement."""
    c = collate(dialect)
    req = int(policy.required_mask)
    cap = policy.cap_per_posyandu
    cap_exceeded = f"r.posyandu_rank > {int(cap)}" if cap is not None else "1 = 0"
    amount_by_rank = " ".join(f"WHEN {rank} THEN {int(policy.amount_for(level))}" for level, rank in LEVEL_RANK.items())
    b = RULE_BIT
    budget = apply_budget and policy.budget_ceiling is not None
    funded_cte = (
        f""",
    funded AS (
        SELECT f.cadre_id, SUM(f.funded_amount) OVER (
            ORDER BY f.posyandu_rank, f.kel_turn, f.kelurahan_code{c}, f.cadre_id{c} ROWS UNBOUNDED PRECEDING
        ) AS running
        FROM (
            SELECT cadre_id, posyandu_rank, kelurahan_code, funded_amount,
                   ROW_NUMBER() OVER (PARTITION BY kelurahan_code, posyandu_rank
                                      ORDER BY level_rank DESC, tenure, cadre_id{c}) AS kel_turn
            FROM capped WHERE posyandu_rank IS NOT NULL AND cap_bit = 0
        ) f
    )"""
        if budget
        else ""
    )
    budget_bit = (
        f"CASE WHEN fu.running > {int(policy.budget_ceiling or 0)} THEN {b['budget']} ELSE 0 END" if budget else "0"
    )
    budget_join = "LEFT JOIN funded fu ON fu.cadre_id = x.cadre_id" if budget else ""
    return f"""
    cert AS (
        SELECT k.*, ROW_NUMBER() OVER (
            PARTITION BY k.cadre_id
            ORDER BY k.valid_at_end DESC, k.level_rank DESC, k.expires_on DESC, k.certificate_id{c}
        ) AS rn
        FROM (
            SELECT cadre_id, certificate_id, certificate_number, level, level_rank, status, status_on,
                   valid_from, expires_on, event_id,
                   CASE WHEN (valid_from IS NULL OR valid_from <= :end) AND expires_on >= :end
                             AND (status = 'valid' OR (status_on IS NOT NULL AND status_on > :end))
                        THEN 1 ELSE 0 END AS valid_at_end
            FROM certificates
        ) k
    ),
    base AS (
        SELECT c.cadre_id, c.posyandu_id, c.kelurahan_code, c.kecamatan_code, c.status AS cadre_status,
               c.deactivated_on, c.reactivated_on, c.status_event_id AS cadre_event_id, c.assignment_event_id,
               COALESCE(c.joined_on, c.registered_on, '9999-12-31') AS tenure,
               k.certificate_id, k.certificate_number, k.level, k.status AS certificate_status,
               k.status_on AS certificate_status_on, k.valid_from AS certificate_valid_from,
               k.expires_on AS certificate_expires_on, k.event_id AS certificate_event_id,
               p.name AS posyandu_name, p.verification_status, p.verification_on, p.verification_event_id,
               p.status AS posyandu_status, p.closed_on AS posyandu_closed_on, p.status_event_id AS posyandu_event_id,
               CASE WHEN k.valid_at_end = 1 THEN k.level_rank ELSE 0 END AS level_rank,
               (CASE WHEN c.deactivated_on IS NOT NULL AND c.deactivated_on <= :end
                          AND (c.status = 'inactive' OR c.reactivated_on IS NULL OR c.reactivated_on > :start)
                     THEN {b["cadre_active"]} ELSE 0 END)
             + (CASE WHEN k.valid_at_end = 1 THEN 0 ELSE {b["certificate_valid"]} END)
             + (CASE WHEN p.verification_status = 'VERIFIED'
                          AND (p.verification_on IS NULL OR p.verification_on <= :end)
                     THEN 0 ELSE {b["posyandu_verified"]} END)
             + (CASE WHEN p.status = 'active' OR (p.closed_on IS NOT NULL AND p.closed_on > :end)
                     THEN 0 ELSE {b["posyandu_open"]} END) AS req_mask
        FROM cadres c
        LEFT JOIN cert k ON k.cadre_id = c.cadre_id AND k.rn = 1
        LEFT JOIN posyandu p ON p.posyandu_id = c.posyandu_id
        WHERE c.registered_on IS NULL OR c.registered_on <= :end
    ),
    ranked AS (
        SELECT b.*,
               CASE WHEN (b.req_mask & {req}) = 0 THEN ROW_NUMBER() OVER (
                   PARTITION BY b.posyandu_id, CASE WHEN (b.req_mask & {req}) = 0 THEN 1 ELSE 0 END
                   ORDER BY b.level_rank DESC, b.tenure, b.cadre_id{c}
               ) END AS posyandu_rank
        FROM base b
    ),
    capped AS (
        SELECT r.*,
               CASE WHEN r.posyandu_rank IS NOT NULL AND {cap_exceeded} THEN {b["posyandu_cap"]} ELSE 0 END AS cap_bit,
               CASE WHEN r.posyandu_rank IS NOT NULL AND NOT ({cap_exceeded})
                    THEN CASE r.level_rank {amount_by_rank} ELSE 0 END ELSE 0 END AS funded_amount
        FROM ranked r
    ){funded_cte},
    verdict AS (
        SELECT x.*, {budget_bit} AS budget_bit FROM capped x {budget_join}
    ),
    final AS (
        SELECT cadre_id, posyandu_id, kelurahan_code, kecamatan_code, cadre_status, deactivated_on, reactivated_on,
               cadre_event_id, assignment_event_id, certificate_id, certificate_number, level, certificate_status,
               certificate_status_on, certificate_valid_from, certificate_expires_on, certificate_event_id,
               posyandu_name, verification_status, verification_on, verification_event_id, posyandu_status,
               posyandu_closed_on, posyandu_event_id,
               req_mask + cap_bit + budget_bit AS failed_mask,
               posyandu_rank,
               ((req_mask & {req}) = 0 AND cap_bit = 0 AND budget_bit = 0) AS eligible,
               CASE WHEN (req_mask & {req}) = 0 AND cap_bit = 0 AND budget_bit = 0 THEN funded_amount ELSE 0 END
                   AS amount
        FROM verdict
    )"""


async def _tune(session: AsyncSession, dialect: str) -> None:
    """Sorts of a million rows fit in memory instead of spilling to disk (this transaction only)."""
    if dialect == "postgresql":
        await session.execute(text("SET LOCAL work_mem = '256MB'"))


def _bounds(dialect: str, period: Period) -> dict[str, Any]:
    return {"start": date_param(dialect, period.start), "end": date_param(dialect, period.end)}


async def insert_decisions(session: AsyncSession, period: Period, policy: Policy) -> None:
    """Replaces the period's decisions by a fresh evaluation of every cadre."""
    dialect = dialect_of(session)
    await _tune(session, dialect)
    await session.execute(text("DELETE FROM decisions WHERE period = :period"), {"period": str(period)})
    cols = ", ".join(DECISION_COLUMNS)
    sql = (
        f"INSERT INTO decisions (period, {cols}) "
        f"WITH {evaluation_ctes(dialect, policy, apply_budget=True)} "
        f"SELECT CAST(:period AS VARCHAR(7)), {cols} FROM final"
    )
    await session.execute(text(sql), {"period": str(period), **_bounds(dialect, period)})


async def insert_corrections(session: AsyncSession, in_period: Period, for_period: Period, policy: Policy) -> None:
    """A late fact changed an approved period's decision: the difference (against what was
    decided plus corrections already made elsewhere) becomes a correction in `in_period`."""
    dialect = dialect_of(session)
    await _tune(session, dialect)
    settled = "COALESCE(d.amount, 0) + COALESCE(pr.settled, 0)"
    sql = f"""
    INSERT INTO adjustments (in_period, for_period, cadre_id, kind, delta, previous_amount, new_amount,
                             previous_mask, new_mask, note)
    WITH {evaluation_ctes(dialect, policy, apply_budget=True)},
    prior AS (
        SELECT cadre_id, SUM(delta) AS settled FROM adjustments
        WHERE for_period = :for_period AND kind = 'correction' AND in_period <> :in_period
        GROUP BY cadre_id
    )
    SELECT CAST(:in_period AS VARCHAR(7)), CAST(:for_period AS VARCHAR(7)), e.cadre_id, 'correction',
           e.amount - ({settled}), {settled}, e.amount,
           d.failed_mask, e.failed_mask, ''
    FROM final e
    LEFT JOIN decisions d ON d.period = :for_period AND d.cadre_id = e.cadre_id
    LEFT JOIN prior pr ON pr.cadre_id = e.cadre_id
    WHERE e.amount <> {settled}
    """
    params = {"in_period": str(in_period), "for_period": str(for_period), **_bounds(dialect, for_period)}
    await session.execute(text(sql), params)


async def insert_carry_overs(session: AsyncSession, in_period: Period, closed_periods: list[str]) -> None:
    """Payments still failed when their period closed are carried into `in_period`."""
    if not closed_periods:
        return
    names = ", ".join(f":p{i}" for i in range(len(closed_periods)))
    params: dict[str, Any] = {f"p{i}": p for i, p in enumerate(closed_periods)}
    params["in_period"] = str(in_period)
    where = f"status = 'failed' AND carried_to IS NULL AND period IN ({names})"
    await session.execute(
        text(
            "INSERT INTO adjustments (in_period, for_period, cadre_id, kind, delta, previous_amount, new_amount, note) "
            f"SELECT CAST(:in_period AS VARCHAR(7)), period, cadre_id, 'carry_over', amount, 0, amount, "
            f"COALESCE(failure_reason, '') FROM payments WHERE {where}"
        ),
        params,
    )
    await session.execute(text(f"UPDATE payments SET carried_to = :in_period WHERE {where}"), params)


async def decision_lines(session: AsyncSession, period: str) -> AsyncIterator[str]:
    """The canonical lines of a period's decisions (rules.decision_line), in cadre id byte
    order, streamed."""
    c = collate(dialect_of(session))
    cols = ", ".join(HASH_COLUMNS)
    result = await session.stream(
        text(f"SELECT {cols} FROM decisions WHERE period = :period ORDER BY cadre_id{c}"), {"period": period}
    )
    async for part in result.partitions(20_000):
        for row in part:
            yield decision_line(tuple(row))


# The same lines built by PostgreSQL and copied out as text, not through a Python row object
# per decision (the hash reads every decision of the city). `decision_line` is the reference.
_PG_LINE = (
    "concat_ws('|', cadre_id, COALESCE(posyandu_id, '-'), CASE WHEN eligible THEN '1' ELSE '0' END, amount::text, "
    "COALESCE(level, '-'), failed_mask::text, COALESCE(posyandu_rank::text, '-'), COALESCE(certificate_id, '-'))"
)


async def decision_lines_digest(session: AsyncSession, period: str, header: str) -> Any:
    """A sha256 object fed with the header line and the period's decision lines (as
    rules.decision_set_hash does), ready for the adjustment lines."""
    h = hashlib.sha256()
    h.update(header.encode("utf-8") + b"\n")
    if dialect_of(session) != "postgresql":
        async for line in decision_lines(session, period):
            h.update(line.encode("utf-8") + b"\n")
        return h
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection

    async def feed(chunk: bytes) -> None:
        h.update(chunk)

    await driver.copy_from_query(
        f'SELECT {_PG_LINE} FROM decisions WHERE period = $1 ORDER BY cadre_id COLLATE "C"', period, output=feed
    )
    return h


async def adjustment_lines(session: AsyncSession, period: str) -> list[str]:
    c = collate(dialect_of(session))
    rows = await session.execute(
        text(
            "SELECT kind, for_period, cadre_id, delta FROM adjustments WHERE in_period = :period "
            f"ORDER BY for_period, cadre_id{c}, kind"
        ),
        {"period": period},
    )
    return ["|".join(str(v) for v in row) for row in rows]
