"""What changed since the previous calculated period, for the approver: counts, then the
cadres added, dropped and whose amount moved, and the Posyandu whose verification changed,
each with its cause. The lists are sets computed in SQL; only a page's causes are told."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import changes as sql
from incentives.adapters import repository as repo
from incentives.domain.changes import CADRE_KINDS, KINDS, POSYANDU_KIND, Side, causes
from incentives.domain.periods import Period
from incentives.domain.policy import Policy
from incentives.handlers.periods import calculated, parse_period
from sikader_shared.errors import Conflict, Invalid


class Pair:
    """A calculated period and the calculated period before it, with their policies."""

    def __init__(self, period: Period, previous: Period, policy: Policy, previous_policy: Policy) -> None:
        self.period, self.previous = period, previous
        self.policy, self.previous_policy = policy, previous_policy


async def pair(session: AsyncSession, period_text: str) -> Pair:
    """404 when the period was not calculated, 409 when no earlier period was."""
    period = parse_period(period_text)
    row = await calculated(session, str(period))
    before = await sql.previous_calculated(session, str(period))
    if before is None:
        raise Conflict(
            f"no period before {period} has been calculated: there is nothing to compare with",
            period=str(period),
            reason="no_previous_calculation",
        )
    policy = await repo.policy_version(session, row.policy_version or "")
    previous_policy = await repo.policy_version(session, before.policy_version or "")
    assert policy is not None and previous_policy is not None
    return Pair(period, Period.parse(before.period), policy, previous_policy)


async def period_changes(session: AsyncSession, period_text: str, limit: int) -> dict[str, Any]:
    """The counts and the first `limit` items of every list (`more` says where a list goes
    on: GET /periods/{period}/changes/{kind} pages through all of it)."""
    p = await pair(session, period_text)
    counts = await sql.counts(session, str(p.period), str(p.previous))
    out: dict[str, Any] = {
        "period": str(p.period),
        "previous_period": str(p.previous),
        "policy_version": p.policy.version,
        "previous_policy_version": p.previous_policy.version,
        "counts": {k: counts.get(k, 0) for k in KINDS},
        "limit": limit,
    }
    for kind in KINDS:
        out[kind] = await _page(session, p, kind, None, limit) if counts.get(kind, 0) else []
    out["more"] = {k: counts.get(k, 0) > len(out[k]) for k in KINDS}
    return out


async def change_page(
    session: AsyncSession, period_text: str, kind: str, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """One list of changes by id (cadre id, or Posyandu id), after an id: a page."""
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", field="kind")
    return await _page(session, await pair(session, period_text), kind, after, limit)


def page_key(kind: str, item: dict[str, Any]) -> list[str]:
    return [item["posyandu_id"] if kind == POSYANDU_KIND else item["cadre_id"]]


async def _page(session: AsyncSession, p: Pair, kind: str, after: str | None, limit: int) -> list[dict[str, Any]]:
    if kind == POSYANDU_KIND:
        posyandu = await sql.posyandu_page(session, str(p.period), str(p.previous), after, limit)
        return [_posyandu_item(r) for r in posyandu]
    assert kind in CADRE_KINDS
    rows = await sql.cadre_page(session, str(p.period), str(p.previous), kind, after, limit)
    return [
        _cadre_item(kind, cadre_id, Side(old, p.previous, p.previous_policy), Side(new, p.period, p.policy))
        for cadre_id, old, new in rows
    ]


def _cadre_item(kind: str, cadre_id: str, before: Side, now: Side) -> dict[str, Any]:
    old, new = before.decision, now.decision
    where = new or old
    assert where is not None
    return {
        "cadre_id": cadre_id,
        "posyandu_id": where.posyandu_id,
        "posyandu_name": where.posyandu_name,
        "kelurahan_code": where.kelurahan_code,
        "kecamatan_code": where.kecamatan_code,
        "eligible_before": old.eligible if old else None,
        "eligible_now": new.eligible if new else None,
        "amount_before": old.amount if old else None,
        "amount_now": new.amount if new else None,
        "level_before": old.level_used if old else None,
        "level_now": new.level_used if new else None,
        "causes": [asdict(c) for c in causes(kind, before, now)],
    }


def _posyandu_item(row: dict[str, Any]) -> dict[str, Any]:
    before, now = row["status_before"] or "unknown", row["status_now"] or "unknown"
    return {
        **row,
        "cause": {
            "event_id": row["event_id"],
            "event_type": row["event_type"],
            "on": row["status_now_on"],
            "text_en": f"verification {before} -> {now} on {row['status_now_on']}",
            "text_id": f"verifikasi {before} -> {now} pada {row['status_now_on']}",
        },
    }
