"""Read models of a calculated period: totals per area and the fairness report, computed
by SQL aggregation over the stored decisions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters.calculation import collate, dialect_of
from incentives.domain.policy import RULE_BIT

AREA_COLUMNS = {
    "kecamatan": ("kecamatan_code",),
    "kelurahan": ("kecamatan_code", "kelurahan_code"),
    "posyandu": ("kecamatan_code", "kelurahan_code", "posyandu_id", "posyandu_name"),
}


async def totals(
    session: AsyncSession, period: str, by: str, after: list[Any] | None, limit: int
) -> list[dict[str, Any]]:
    """Cadres, eligible cadres and amounts per area, in area order (byte order; a missing
    Posyandu sorts as ''), after an area's key (keyset: `area_key` of the last item)."""
    cols = AREA_COLUMNS[by]
    group = ", ".join(cols)
    c = collate(dialect_of(session))
    keys = [f"COALESCE({x}, ''){c}" for x in cols]
    params: dict[str, Any] = {"p": period, "limit": limit}
    where = "period = :p"
    if after is not None:
        where += f" AND ({', '.join(keys)}) > ({', '.join(f':k{i}' for i in range(len(cols)))})"
        params.update({f"k{i}": str(v) for i, v in enumerate(after)})
    rows = await session.execute(
        text(
            f"SELECT {group}, COUNT(*), SUM(CASE WHEN eligible THEN 1 ELSE 0 END), COALESCE(SUM(amount), 0) "
            f"FROM decisions WHERE {where} GROUP BY {group} ORDER BY {', '.join(keys)} LIMIT :limit"
        ),
        params,
    )
    out = []
    for r in rows.tuples():
        item: dict[str, Any] = dict(zip(cols, r[: len(cols)], strict=True))
        item.update(cadres=int(r[-3]), eligible_cadres=int(r[-2] or 0), total_amount=int(r[-1] or 0))
        out.append(item)
    return out


def area_key(item: dict[str, Any], by: str) -> list[str]:
    """The sort key of a totals item (what `totals` continues after)."""
    return [item[x] or "" for x in AREA_COLUMNS[by]]


def _bit(rule: str) -> str:
    return f"MAX(CASE WHEN (failed_mask & {RULE_BIT[rule]}) > 0 THEN 1 ELSE 0 END)"


async def fairness(session: AsyncSession, period: str, left_out_limit: int = 500) -> dict[str, Any]:
    """Did the money reach the whole city evenly? Per kecamatan and kelurahan: cadres,
    eligible (to be paid) and paid cadres, amounts, and coverage of Posyandu; the Posyandu
    left out, each with why."""
    p = {"p": period}
    c = collate(dialect_of(session))
    paid = await session.execute(
        text(
            "SELECT d.kecamatan_code, d.kelurahan_code, COUNT(*), COALESCE(SUM(y.amount), 0) FROM payments y "
            "JOIN decisions d ON d.period = y.period AND d.cadre_id = y.cadre_id "
            "WHERE y.period = :p AND y.status = 'paid' GROUP BY d.kecamatan_code, d.kelurahan_code"
        ),
        p,
    )
    paid_by_kel: dict[tuple[Any, Any], tuple[int, int]] = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in paid.all()}
    rows = await session.execute(
        text(
            "SELECT kecamatan_code, kelurahan_code, COUNT(*) AS cadres, "
            "SUM(CASE WHEN eligible THEN 1 ELSE 0 END) AS eligible, COALESCE(SUM(amount), 0) AS amount, "
            "COUNT(DISTINCT posyandu_id) AS posyandu, "
            "COUNT(DISTINCT CASE WHEN eligible THEN posyandu_id END) AS posyandu_funded, "
            f"SUM(CASE WHEN (failed_mask & {RULE_BIT['cadre_active']}) = 0 THEN 1 ELSE 0 END) AS active "
            f"FROM decisions WHERE period = :p GROUP BY kecamatan_code, kelurahan_code "
            f"ORDER BY kecamatan_code{c}, kelurahan_code{c}"
        ),
        p,
    )
    kelurahan = []
    kecamatan: dict[str, dict[str, Any]] = {}
    row: Any
    for row in rows.all():
        kec, kel, cadres, eligible, amount, posyandu, funded, active = row
        paid_n, paid_amount = paid_by_kel.get((kec, kel), (0, 0))
        item = {
            "kecamatan_code": kec,
            "kelurahan_code": kel,
            "cadres": int(cadres),
            "eligible_cadres": int(eligible or 0),
            "total_amount": int(amount or 0),
            "paid_cadres": paid_n,
            "paid_amount": paid_amount,
            "posyandu": int(posyandu),
            "posyandu_funded": int(funded),
            "posyandu_coverage": round(int(funded) / int(posyandu), 4) if posyandu else 0.0,
            "cadre_coverage": round(int(eligible or 0) / int(cadres), 4) if cadres else 0.0,
            "active_cadres": int(active or 0),
        }
        kelurahan.append(item)
        k = kecamatan.setdefault(
            kec,
            {
                "kecamatan_code": kec,
                "cadres": 0,
                "eligible_cadres": 0,
                "total_amount": 0,
                "paid_cadres": 0,
                "paid_amount": 0,
                "posyandu": 0,
                "posyandu_funded": 0,
            },
        )
        for f in (
            "cadres",
            "eligible_cadres",
            "total_amount",
            "paid_cadres",
            "paid_amount",
            "posyandu",
            "posyandu_funded",
        ):
            k[f] += item[f]
    for k in kecamatan.values():
        k["posyandu_coverage"] = round(k["posyandu_funded"] / k["posyandu"], 4) if k["posyandu"] else 0.0

    left = await session.execute(
        text(
            "SELECT posyandu_id, MAX(posyandu_name), MAX(kecamatan_code), MAX(kelurahan_code), COUNT(*), "
            f"{_bit('posyandu_verified')}, {_bit('posyandu_open')}, {_bit('posyandu_cap')}, {_bit('budget')}, "
            "MAX(verification_status), MAX(posyandu_status) "
            "FROM decisions WHERE period = :p AND posyandu_id IS NOT NULL GROUP BY posyandu_id "
            f"HAVING SUM(CASE WHEN eligible THEN 1 ELSE 0 END) = 0 ORDER BY MAX(kelurahan_code){c}, posyandu_id{c}"
        ),
        p,
    )
    left_out = []
    for row in left.all():
        pid, name, kec, kel, cadres, unverified, closed, _capped, budget, vstatus, pstatus = row
        if closed:
            why = f"Posyandu is {pstatus}"
            code = "posyandu_closed"
        elif unverified:
            why = f"Posyandu not VERIFIED ({vstatus or 'unknown'})"
            code = "posyandu_not_verified"
        elif budget:
            why = "budget ceiling reached before this Posyandu's turn"
            code = "budget"
        else:
            why = "no cadre meets the requirements (active through the period, valid certificate)"
            code = "no_eligible_cadre"
        left_out.append(
            {
                "posyandu_id": pid,
                "posyandu_name": name,
                "kecamatan_code": kec,
                "kelurahan_code": kel,
                "cadres": int(cadres),
                "reason": code,
                "why": why,
            }
        )
    no_cadres = await session.execute(
        text(
            "SELECT p.posyandu_id, p.name, p.kecamatan_code, p.kelurahan_code FROM posyandu p "
            "WHERE p.status = 'active' AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.period = :p "
            f"AND d.posyandu_id = p.posyandu_id) ORDER BY p.kelurahan_code{c}, p.posyandu_id{c}"
        ),
        p,
    )
    for pid, name, kec, kel in no_cadres.all():
        left_out.append(
            {
                "posyandu_id": pid,
                "posyandu_name": name,
                "kecamatan_code": kec,
                "kelurahan_code": kel,
                "cadres": 0,
                "reason": "no_cadres",
                "why": "no cadre registered at this Posyandu",
            }
        )
    coverages = [k["posyandu_coverage"] for k in kelurahan if k["posyandu"]]
    return {
        "period": period,
        "kecamatan": list(kecamatan.values()),
        "kelurahan": kelurahan,
        "posyandu_left_out": left_out[:left_out_limit],
        "posyandu_left_out_total": len(left_out),
        "evenness": {
            "kelurahan_with_funded_posyandu": sum(1 for k in kelurahan if k["posyandu_funded"]),
            "kelurahan_total": len(kelurahan),
            "min_posyandu_coverage": min(coverages) if coverages else 0.0,
            "max_posyandu_coverage": max(coverages) if coverages else 0.0,
        },
    }
