"""The console's certification reads: certified cadres per area and level, certificates
expiring soon and the counts per window. Today is the local (WITA) date of `now`."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from certification.adapters import repository as repo
from certification.domain.certificates import local_date
from certification.domain.levels import LEVEL_ORDER
from certification.domain.statistics import EXPIRY_WINDOWS, certified_table, days_left, expiry_window
from certification.entrypoints.schemas import (
    CertifiedStatistics,
    ExpiringCertificatePublic,
    ExpiringStatistics,
)
from sikader_shared.errors import Invalid


async def certified(session: AsyncSession, now: datetime) -> CertifiedStatistics:
    today = local_date(now)
    table = certified_table(await repo.certified_counts(session, today))
    return CertifiedStatistics.model_validate(
        {
            "as_of": today,
            "levels": list(LEVEL_ORDER),
            "kecamatan": table.kecamatan,
            "kelurahan": table.kelurahan,
            "city": table.city,
        }
    )


async def expiring(
    session: AsyncSession, now: datetime, within_days: int, after: list[Any] | None, limit: int
) -> list[ExpiringCertificatePublic]:
    """Current valid certificates expiring within the window, soonest first (a page)."""
    today = local_date(now)
    until = today + timedelta(days=expiry_window(within_days))
    rows = await repo.expiring_certificates(session, today, until, _expiring_key(after), limit)
    return [
        ExpiringCertificatePublic.model_validate(
            {
                **cert.model_dump(),
                "valid_until": cert.expires_on,
                "days_left": days_left(cert.expires_on, today),
                "kelurahan_code": kelurahan,
                "kecamatan_code": kecamatan,
            }
        )
        for cert, kelurahan, kecamatan in rows
    ]


def expiring_page_key(item: ExpiringCertificatePublic) -> list[Any]:
    return [item.valid_until.isoformat(), item.number]


def _expiring_key(after: list[Any] | None) -> tuple[date, str] | None:
    if after is None:
        return None
    try:
        valid_until, number = after
        return date.fromisoformat(valid_until), str(number)
    except (TypeError, ValueError) as exc:
        raise Invalid("cursor is not one for this list", field="cursor") from exc


async def expiring_counts(session: AsyncSession, now: datetime) -> ExpiringStatistics:
    today = local_date(now)
    counts = await repo.expiring_counts(session, today, EXPIRY_WINDOWS)
    return ExpiringStatistics(as_of=today, **{f"within_{w}": n for w, n in counts.items()})
