"""Sample events for tests and benchmarks (valid by the contract, distinct by their index)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sikader_shared.events import CadreCertified, CadreRegistered


def cadre_registered(i: int = 0) -> CadreRegistered:
    """A new cadre (a fresh id each call) in kelurahan 64.71.01.1001."""
    return CadreRegistered(
        cadre_id=str(uuid.uuid4()),
        kelurahan_code="64.71.01.1001",
        kecamatan_code="64.71.01",
        name=f"Kader Uji {i}",
        status="active",
        registered_at=datetime.now(UTC),
    )


def cadre_certified(i: int, id_base: int = 0) -> CadreCertified:
    """Cadre `id_base + i` certified Purwa (deterministic ids: the same `i` is the same cadre),
    spread over the 6 kecamatan and 7 kelurahan numbers."""
    kel = f"64.71.0{i % 6 + 1}.10{i % 7 + 1:02d}"
    return CadreCertified(
        cadre_id=str(uuid.UUID(int=id_base + i)),
        kelurahan_code=kel,
        kecamatan_code=kel[:8],
        certificate_id=str(uuid.UUID(int=id_base + 10**9 + i)),
        certificate_number=f"SKD/6471/2026/PURWA/{i:06d}",
        level="Purwa",
        status="valid",
        expires_on=date(2029, 11, 1),
        cadre_name=f"Kader {i}",
        issued_on=date(2026, 11, 1),
        issuer="Dinas Kesehatan Kota Balikpapan",
    )
