"""Steps of the walkthrough, through the services' APIs with the test people's keys: what the
console's pages then show."""

from __future__ import annotations

from datetime import date
from typing import Any

from sikader_shared.testing.checks import eventually

KELURAHAN = "64.71.06.1002"


def nik(birth: date, female: bool, serial: int, region: str = "647106") -> str:
    day = birth.day + (40 if female else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


async def ok(response: Any) -> dict[str, Any]:
    assert response.status_code < 300, f"{response.status_code} {response.text}"
    return dict(response.json())


async def verified_posyandu(console: Any, name: str = "Posyandu Kenanga") -> str:
    async with console.services["registry"].client(console.keys["officer"]) as reg:
        p = await ok(await reg.post("/posyandu", json={
            "name": name, "kelurahan_code": KELURAHAN, "posyandu_type": "balita",
            "latitude": -1.2675, "longitude": 116.8289,
            "institution": {"sk_number": "188.4/31/KLI/2025", "sk_date": "2025-02-03"},
        }))  # fmt: skip
        await ok(await reg.post(f"/posyandu/{p['id']}/assessments", json={
            "facility_status": "public_building", "assessed_by": "Puskesmas Klandasan Ilir",
            "assessed_on": date.today().isoformat(),
            "equipment": [{"item": "dacin", "available": True, "functional": True}],
        }))  # fmt: skip
        await ok(await reg.post(f"/posyandu/{p['id']}/verification", json={"decision": "VERIFIED"}))
    return str(p["id"])


async def cadre(console: Any, posyandu_id: str, name: str = "Rahmawati Said", serial: int = 1) -> str:
    birth = date(1991, 4, 12)
    async with console.services["registry"].client(console.keys["officer"]) as reg:
        c = await ok(await reg.post("/cadres", json={
            "nik": nik(birth, True, serial), "name": name, "sex": "F", "birth_date": birth.isoformat(),
            "phone": "0812-5555-0101", "roles": ["posyandu_cadre"], "posyandu_id": posyandu_id,
            "posyandu_role": "core", "joined_on": "2018-06-01",
            "payment": {"method": "bank", "bank": "BPD_KALTIMTARA", "account_number": f"00{serial:04d}5678"},
        }))  # fmt: skip
    return str(c["id"])


async def certified(console: Any, cadre_id: str) -> str:
    """Purwa: skill groups 1-3 passed at the Puskesmas. Returns the certificate number."""
    async with console.services["certification"].client(console.keys["officer"]) as cert:

        async def known() -> bool:
            return bool((await cert.get(f"/cadres/{cadre_id}")).status_code == 200)

        await eventually(known, "certification to know the cadre", timeout=30)
        results = [{"skill_code": f"{g}.{i}", "passed": True} for g in ("1", "2", "3") for i in range(1, 6)]
        a = await ok(await cert.post("/assessments", json={
            "cadre_id": cadre_id, "assessor": "Puskesmas Klandasan Ilir", "assessed_on": date.today().isoformat(),
            "results": results,
        }))  # fmt: skip
    return str(a["certificate"]["number"])
