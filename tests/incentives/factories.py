"""Facts for incentives tests: random but seeded, covering every rule's edge."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

from incentives.domain.facts import CadreFacts, CertificateFacts, PosyanduFacts
from incentives.domain.policy import LEVEL_RANK, LEVELS

KECAMATAN = ["64.71.01", "64.71.02", "64.71.03"]
AT = datetime(2026, 11, 1, tzinfo=UTC)


def uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128)))


def random_city(
    seed: int, posyandu_count: int = 30, cadres_per_posyandu: int = 9, around: date = date(2026, 11, 15)
) -> tuple[list[PosyanduFacts], list[CadreFacts], list[CertificateFacts]]:
    rng = random.Random(seed)

    def day(spread: int = 60) -> date:
        return around + timedelta(days=rng.randint(-spread, spread))

    posyandu: list[PosyanduFacts] = []
    for i in range(posyandu_count):
        kec = rng.choice(KECAMATAN)
        status = rng.choices(["active", "closed", "merged"], [8, 1, 1])[0]
        posyandu.append(
            PosyanduFacts(
                posyandu_id=uid(rng),
                name=f"Posyandu {i}",
                kelurahan_code=f"{kec}.100{rng.randint(1, 4)}",
                kecamatan_code=kec,
                status=status,
                closed_on=day() if status != "active" else None,
                verification_status=rng.choices(["VERIFIED", "PENDING", "REJECTED"], [6, 2, 1])[0],
                verification_on=day(),
                verification_event_id=uid(rng),
                status_event_id=uid(rng),
            )
        )
    cadres: list[CadreFacts] = []
    certs: list[CertificateFacts] = []
    for p in [*posyandu, None]:
        for _ in range(cadres_per_posyandu):
            status = rng.choices(["active", "inactive"], [5, 1])[0]
            deactivated = day() if status == "inactive" or rng.random() < 0.2 else None
            reactivated = (
                (deactivated + timedelta(days=rng.randint(1, 40))) if deactivated and status == "active" else None
            )
            c = CadreFacts(
                cadre_id=uid(rng),
                name="Kader",
                kelurahan_code=p.kelurahan_code if p else "64.71.01.1001",
                kecamatan_code=p.kecamatan_code if p else "64.71.01",
                posyandu_id=p.posyandu_id if p else None,
                status=status,
                registered_on=rng.choice([None, day(200), day(5)]),
                joined_on=rng.choice([None, day(2000), day(2000)]),
                deactivated_on=deactivated,
                reactivated_on=reactivated,
                status_event_id=uid(rng),
                assignment_event_id=uid(rng),
            )
            cadres.append(c)
            for _ in range(rng.choice([0, 1, 1, 2])):
                level = rng.choice(LEVELS)
                cstatus = rng.choices(["valid", "revoked", "suspended", "expired", "superseded"], [6, 1, 1, 1, 1])[0]
                certs.append(
                    CertificateFacts(
                        certificate_id=uid(rng),
                        cadre_id=c.cadre_id,
                        certificate_number=f"KDR-{rng.randint(1, 999999):06d}",
                        level=level,
                        level_rank=LEVEL_RANK[level],
                        status=cstatus,
                        expires_on=day(400),
                        status_on=day() if cstatus != "valid" else rng.choice([None, day()]),
                        valid_from=rng.choice([None, day(300)]),
                        issued_on=day(300),
                        event_id=uid(rng),
                    )
                )
    return posyandu, cadres, certs
