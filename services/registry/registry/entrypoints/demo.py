"""Demo data for Balikpapan, loaded through the public API (scripts/demo_data.py calls
`load_demo`). Deterministic for a seed: the same Posyandu, cadres and NIKs every time; a
second run registers nothing twice (the imports are keyed by name and NIK)."""

from __future__ import annotations

import csv
import io
import math
import random
from datetime import date, timedelta
from typing import Any

import httpx

from registry.adapters.wilayah_file import load_wilayah
from registry.domain.wilayah import Wilayah
from registry.entrypoints.import_cli import upload

FLOWERS = [
    "Melati", "Mawar", "Anggrek", "Kenanga", "Dahlia", "Flamboyan", "Cempaka", "Teratai",
    "Seroja", "Bougenville", "Kamboja", "Tulip", "Asoka", "Sakura", "Lavender", "Matahari",
]  # fmt: skip
WOMEN = [
    "Siti Aminah", "Nur Hidayah", "Sri Wahyuni", "Dewi Lestari", "Rina Marlina", "Fitriani", "Rahmawati",
    "Yuliana", "Hasanah", "Masitah", "Nurul Aini", "Sarinah", "Kartini", "Suryani", "Wulandari", "Halimah",
    "Ratna Sari", "Erna Susanti", "Linda Kusuma", "Aisyah", "Murni", "Sumiati", "Salmah", "Jumiati",
]  # fmt: skip
MEN = ["Budi Santoso", "Ahmad Fauzi", "Rudi Hartono", "Syamsul Bahri", "Andi Pratama", "Hendra Gunawan"]
STREETS = ["Jl. Jend. Sudirman", "Jl. MT Haryono", "Jl. Ahmad Yani", "Jl. Soekarno-Hatta", "Jl. Mulawarman",
           "Jl. Marsma Iswahyudi", "Jl. Letjen Suprapto", "Jl. Pupuk Raya", "Jl. Syarifuddin Yoes"]  # fmt: skip
BANKS = ["BPD_KALTIMTARA", "BRI", "BNI", "MANDIRI", "BSI"]
WALLETS = ["DANA", "OVO", "GOPAY"]
EQUIPMENT = ["dacin", "digital_scale", "height_board", "muac_tape", "kia_book", "recording_place"]
# Many Posyandu meet in a resident's house (menumpang di rumah warga).
FACILITIES = ["resident_house"] * 9 + ["public_building"] * 6 + ["own_building"] * 3 + ["none"] * 2


def _csv(header: list[str], rows: list[list[Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return out.getvalue().encode("utf-8")


def _nik(rng: random.Random, kecamatan_code: str, birth: date, female: bool, serial: int) -> str:
    region = kecamatan_code.replace(".", "")  # 6471 + kecamatan of issue
    day = birth.day + (40 if female else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


POSYANDU_HEADER = ["name", "kelurahan_code", "posyandu_type", "address", "rt", "sk_number", "sk_date",
                   "facility_status", "equipment", "assessed_by", "assessed_on", "latitude", "longitude"]  # fmt: skip
CADRE_HEADER = ["nik", "name", "sex", "birth_date", "phone", "email", "address", "roles", "posyandu_id",
                "posyandu_role", "joined_on", "payment_method", "bank", "account_number"]  # fmt: skip
ASSESSED_FROM = date(2026, 6, 1)
NEAR_CENTROID_M = 450  # demo points lie within about 500 m of their kelurahan's centroid
WITHOUT_COORDINATES = 3  # left for the console's "without coordinates" list to fix
METRES_PER_DEGREE = 111_320


def _coordinates(seed: int, plan: list[dict[str, Any]]) -> list[tuple[float, float] | None]:
    """A point near each Posyandu's kelurahan centroid, a few left without. A generator of its
    own (from the seed), so the rest of the demo data stays as it was before coordinates."""
    rng = random.Random(f"{seed}:coordinates")
    out: list[tuple[float, float] | None] = []
    for p in plan:
        kel = p["kelurahan"]
        r, angle = NEAR_CENTROID_M * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        dlat = r * math.sin(angle) / METRES_PER_DEGREE
        dlon = r * math.cos(angle) / (METRES_PER_DEGREE * math.cos(math.radians(kel.latitude)))
        out.append((round(kel.latitude + dlat, 6), round(kel.longitude + dlon, 6)))
    for i in rng.sample(range(len(out)), WITHOUT_COORDINATES):
        out[i] = None
    return out


def _posyandu_plan(rng: random.Random, wilayah: Wilayah) -> tuple[list[list[Any]], list[dict[str, Any]]]:
    """2-4 Posyandu per kelurahan: the CSV rows, and what each row planned (for the next steps)."""
    rows: list[list[Any]] = []
    plan: list[dict[str, Any]] = []
    for kel in wilayah.all_kelurahan():
        names = rng.sample(FLOWERS, rng.randint(2, 4))
        for i, flower in enumerate(names):
            kind = "balita" if i == 0 else rng.choice(["balita", "balita", "lansia", "remaja", "ILP"])
            facility = rng.choice(FACILITIES)
            assessed = rng.random() < 0.85
            has_sk = rng.random() < 0.75
            equipment = rng.sample(EQUIPMENT, rng.randint(1, len(EQUIPMENT))) if assessed else []
            rt = f"{rng.randint(1, 60):03d}"
            rows.append(
                [
                    f"Posyandu {flower}",
                    kel.code,
                    kind,
                    f"{rng.choice(STREETS)} Gg. {flower} No. {rng.randint(1, 80)}",
                    rt,
                    f"188.4/{rng.randint(1, 99)}/{kel.code[-4:]}/2024" if has_sk else None,
                    "2024-07-01" if has_sk else None,
                    facility if assessed else None,
                    ";".join(equipment) if assessed else None,
                    f"Puskesmas {kel.name}" if assessed else None,
                    (ASSESSED_FROM + timedelta(days=rng.randint(0, 30))).isoformat() if assessed else None,
                ]
            )
            plan.append({"kelurahan": kel, "assessed": assessed, "has_sk": has_sk, "facility": facility})
    return rows, plan


async def _verify(
    client: httpx.AsyncClient, rng: random.Random, posyandu_ids: list[str], plan: list[dict[str, Any]]
) -> tuple[list[str], list[str]]:
    """Most assessed Posyandu with an SK are verified, a few rejected: (verified, rejected)."""
    verified: list[str] = []
    rejected: list[str] = []
    for pid, p in zip(posyandu_ids, plan, strict=True):
        if not p["assessed"]:
            continue
        roll = rng.random()
        if p["has_sk"] and roll < 0.6:
            body: dict[str, Any] = {"decision": "VERIFIED", "note": "demo: checked on site"}
        elif roll > 0.85:
            reason = "no founding decree (SK) from the lurah yet" if not p["has_sk"] else "scales not calibrated"
            body = {"decision": "REJECTED", "reason": reason}
        else:
            continue
        r = await client.post(f"/posyandu/{pid}/verification", json=body)
        if r.status_code not in (201, 409):  # 409: already decided on an earlier run
            raise RuntimeError(f"demo verification failed: {r.status_code} {r.text}")
        (verified if body["decision"] == "VERIFIED" else rejected).append(pid)
    return verified, rejected


def _cadre_rows(
    rng: random.Random, posyandu_ids: list[str], plan: list[dict[str, Any]]
) -> tuple[list[list[Any]], list[str]]:
    """About 3 cadres per Posyandu (5 core cadres is the ideal; many have fewer): the CSV
    rows, and the Posyandu of each row."""
    rows: list[list[Any]] = []
    posyandu_of_row: list[str] = []
    serial = 0
    for pid, p in zip(posyandu_ids, plan, strict=True):
        for j in range(rng.choice([2, 3, 3, 3, 4])):
            serial += 1
            female = rng.random() < 0.9
            birth = date(rng.randint(1965, 2003), rng.randint(1, 12), rng.randint(1, 28))
            name = rng.choice(WOMEN if female else MEN)
            method = rng.choices(["bank", "e_wallet", None], [6, 2, 2])[0]
            phone = f"08{rng.choice(['11', '12', '13', '21', '52', '53'])}{rng.randint(10_000_000, 99_999_999)}"
            rows.append(
                [
                    _nik(rng, p["kelurahan"].kecamatan_code, birth, female, serial),
                    name,
                    "P" if female else "L",
                    birth.isoformat(),
                    phone,
                    # Half the cadres have an email, so the demo's mail shows in the SMTP catcher.
                    f"kader{serial:04d}@contoh.example" if serial % 2 == 0 else "",
                    f"{rng.choice(STREETS)} RT {rng.randint(1, 60):03d}, {p['kelurahan'].name}",
                    "posyandu_cadre;pkk" if rng.random() < 0.3 else "posyandu_cadre",
                    pid,
                    "ketua" if j == 0 else "core",
                    date(rng.randint(2010, 2025), rng.randint(1, 12), 1).isoformat(),
                    method,
                    (rng.choice(BANKS) if method == "bank" else rng.choice(WALLETS)) if method else None,
                    (str(rng.randint(10**9, 10**10 - 1)) if method == "bank" else phone) if method else None,
                ]
            )
            posyandu_of_row.append(pid)
    return rows, posyandu_of_row


def _ids_by_line(report: dict[str, Any], rows: int, id_field: str) -> list[str]:
    """The id of each uploaded row (registered now or on an earlier run), in file order."""
    by_line = {item["line"]: item[id_field] for item in report["registered_ids"] + report["existing"]}
    return [by_line[line] for line in range(2, rows + 2)]


async def _deactivate_some(client: httpx.AsyncClient, rng: random.Random, cadre_ids: list[str]) -> list[str]:
    """A little turnover: a few cadres moved away."""
    inactive = rng.sample(cadre_ids, 6)
    for cid in inactive:
        r = await client.post(
            f"/cadres/{cid}/deactivation", json={"reason": "moved away", "effective_on": "2026-10-31"}
        )
        if r.status_code not in (200, 409):
            raise RuntimeError(f"demo deactivation failed: {r.status_code} {r.text}")
    return inactive


async def load_demo(client: httpx.AsyncClient, seed: int = 6471) -> dict[str, Any]:
    """Register Posyandu in every kelurahan (facility mix, some verified, some rejected) and
    about 300 cadres, through the public API. `client` has the registry's base URL and an
    admin key. Returns the ids the other services' demo loaders need."""
    rng = random.Random(seed)
    posyandu_rows, plan = _posyandu_plan(rng, load_wilayah("6471.json"))
    for row, point in zip(posyandu_rows, _coordinates(seed, plan), strict=True):
        row.extend(point or (None, None))
    report = await upload(client, "posyandu", _csv(POSYANDU_HEADER, posyandu_rows), chunk_rows=1000)
    posyandu_ids = _ids_by_line(report, len(posyandu_rows), "posyandu_id")
    verified, rejected = await _verify(client, rng, posyandu_ids, plan)
    cadre_rows, cadre_posyandu = _cadre_rows(rng, posyandu_ids, plan)
    report = await upload(client, "cadres", _csv(CADRE_HEADER, cadre_rows), chunk_rows=2000)
    if report["rejected"]:
        raise RuntimeError(f"demo cadres rejected: {report['errors'][:3]}")
    cadre_ids = _ids_by_line(report, len(cadre_rows), "cadre_id")
    by_posyandu: dict[str, list[str]] = {pid: [] for pid in posyandu_ids}
    for cid, pid in zip(cadre_ids, cadre_posyandu, strict=True):
        by_posyandu[pid].append(cid)
    inactive = await _deactivate_some(client, rng, cadre_ids)
    return {
        "posyandu_ids": posyandu_ids,
        "verified_posyandu_ids": verified,
        "rejected_posyandu_ids": rejected,
        "cadre_ids": cadre_ids,
        "active_cadre_ids": [c for c in cadre_ids if c not in set(inactive)],
        "inactive_cadre_ids": inactive,
        "cadre_ids_by_posyandu": by_posyandu,
        "kelurahan_by_posyandu": {pid: p["kelurahan"].code for pid, p in zip(posyandu_ids, plan, strict=True)},
    }
