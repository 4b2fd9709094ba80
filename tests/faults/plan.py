"""The seeded load and its fault-free model.

A plan is a list of writes through the public HTTP APIs (registry: Posyandu, facility
assessments, verification decisions, cadres, deactivation and reactivation; certification:
skill assessments that certify, upgrade or renew), each with its own Idempotency-Key, a lane
(the aggregate it changes: its writes go in order) and the writes it needs first. The same
seed gives the same writes; ids are the services' own, filled in as answers come back
(`{p3}` in a path or body is the id answered to the write that registered Posyandu p3).

While the plan is drawn, the model applies each write as a fault-free system would: what
every Posyandu and cadre must look like at the end, how many events of each type each
aggregate must have on the broker, the certificates, and the incentive eligibility."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date
from typing import Any

LEVELS = ("Purwa", "Madya", "Utama")  # 3, 4 and 5 complete skill groups (groups 1 and 2 always)
GROUPS = ("1", "2", "3", "4", "5")

# What the outside system subscribes to: registry and certification events, whose number
# follows from the writes alone. Not CadreRegistered: a subscriber's deliveries go one at a
# time (its lane keeps each aggregate's order), about 2-3 a second on the loaded 2-core
# machine, and the load must not outrun that lane by design.
SUBSCRIBED = (
    "PosyanduFacilityVerified",
    "PosyanduFacilityRejected",
    "CadreDeactivated",
    "CadreReactivated",
    "CadreCertified",
)

WOMEN = ["Siti Aminah", "Nur Hidayah", "Sri Wahyuni", "Dewi Lestari", "Rina Marlina", "Fitriani", "Rahmawati",
         "Yuliana", "Hasanah", "Masitah", "Nurul Aini", "Sarinah", "Halimah", "Ratna Sari", "Aisyah"]  # fmt: skip
MEN = ["Budi Santoso", "Ahmad Fauzi", "Rudi Hartono", "Syamsul Bahri", "Andi Pratama"]
FLOWERS = ["Melati", "Mawar", "Anggrek", "Kenanga", "Dahlia", "Flamboyan", "Cempaka", "Teratai", "Seroja"]
FACILITIES = ["resident_house", "resident_house", "public_building", "own_building"]


@dataclass
class Op:
    index: int
    kind: str
    service: str
    method: str
    path: str
    body: Any
    lane: str
    after: tuple[int, ...] = ()
    ref: str | None = None  # the answer's "id" is kept under this name
    not_yet: frozenset[int] = frozenset()  # answers that mean "not known here yet": try again
    notifies: tuple[str, ...] = ()  # subscribed events this write leads to (about `lane`)
    vt: float = 0.0  # place on the plan's virtual timeline (orders the writes)
    at: float = 0.0  # seconds after the load starts


@dataclass
class PosyanduModel:
    ref: str
    name: str
    kelurahan_code: str
    has_sk: bool
    verification: str = "PENDING"
    assessments: int = 0
    verified: int = 0
    rejected: int = 0
    cadres: list[str] = field(default_factory=list)


@dataclass
class CadreModel:
    ref: str
    posyandu: str
    name: str
    status: str = "active"
    badges: set[str] = field(default_factory=set)
    issued: list[str] = field(default_factory=list)  # levels of the certificates issued, in order
    renewed_by_assessment: int = 0
    assessments: int = 0  # assessment writes
    skill_results: int = 0  # one SkillAssessed per result
    deactivations: int = 0
    reactivations: int = 0
    suspensions: int = 0
    restorations: int = 0  # CertificateRenewed (basis reactivation)

    @property
    def level(self) -> str | None:
        return self.issued[-1] if self.issued else None

    @property
    def certificate_status(self) -> str | None:
        if not self.issued:
            return None
        return "valid" if self.status == "active" else "suspended"

    def events(self) -> dict[str, int]:
        """Distinct events about this cadre each topic must carry."""
        return {
            "CadreRegistered": 1,
            "CadreDeactivated": self.deactivations,
            "CadreReactivated": self.reactivations,
            "SkillAssessed": self.skill_results,
            "CadreCertified": len(self.issued),
            "CertificateSuperseded": max(0, len(self.issued) - 1),
            "CertificateRenewed": self.renewed_by_assessment + self.restorations,
            "CertificateSuspended": self.suspensions,
        }


def level_for(badges: set[str]) -> str | None:
    complete = {g for g in GROUPS if all(f"{g}.{i}" in badges for i in range(1, 6))}
    if not {"1", "2"} <= complete:
        return None
    reached = None
    for level, needed in zip(LEVELS, (3, 4, 5), strict=True):
        if len(complete) >= needed:
            reached = level
    return reached


class Model:
    """The fault-free system: every Posyandu and cadre as the writes applied in order leave it."""

    def __init__(self) -> None:
        self.posyandu: dict[str, PosyanduModel] = {}
        self.cadres: dict[str, CadreModel] = {}

    def apply(self, op: Op) -> None:
        body, kind = op.body, op.kind
        if kind == "posyandu.register":
            self.posyandu[op.lane] = PosyanduModel(
                op.lane, body["name"], body["kelurahan_code"], bool(body.get("institution"))
            )
        elif kind == "posyandu.assess":
            p = self.posyandu[op.lane]
            p.assessments, p.verification = p.assessments + 1, "PENDING"
        elif kind in ("posyandu.verified", "posyandu.rejected"):
            p = self.posyandu[op.lane]
            p.verification = body["decision"]
            p.verified += body["decision"] == "VERIFIED"
            p.rejected += body["decision"] == "REJECTED"
        elif kind == "cadre.register":
            posyandu = body["posyandu_id"].strip("{}")
            self.cadres[op.lane] = CadreModel(op.lane, posyandu, body["name"])
            self.posyandu[posyandu].cadres.append(op.lane)
        elif kind == "certification.assess":
            self._assessed(op)
        elif kind == "cadre.deactivate":
            c = self.cadres[op.lane]
            c.status, c.deactivations = "inactive", c.deactivations + 1
            c.suspensions += bool(c.issued)  # certification suspends a valid certificate
        elif kind == "cadre.reactivate":
            c = self.cadres[op.lane]
            c.status, c.reactivations = "active", c.reactivations + 1
            c.restorations += bool(c.issued)  # ... and restores it (CertificateRenewed, basis reactivation)
        else:
            raise ValueError(kind)

    def _assessed(self, op: Op) -> None:
        """First reaching a level issues a certificate, a higher one supersedes it, a passed
        re-assessment at the same level renews it, a failed-only one changes nothing."""
        c = self.cadres[op.lane]
        results = [(r["skill_code"], r["passed"]) for r in op.body["results"]]
        c.assessments += 1
        c.skill_results += len(results)
        c.badges |= {code for code, passed in results if passed}
        reached = level_for(c.badges)
        if reached is None or not any(passed for _, passed in results):
            return
        if c.level is None or LEVELS.index(reached) > LEVELS.index(c.level):
            c.issued.append(reached)
            op.notifies = ("CadreCertified",)
        else:
            c.renewed_by_assessment += 1

    def expected_deliveries(self) -> int:
        total = 0
        for p in self.posyandu.values():
            total += p.verified * ("PosyanduFacilityVerified" in SUBSCRIBED)
            total += p.rejected * ("PosyanduFacilityRejected" in SUBSCRIBED)
        for c in self.cadres.values():
            e = c.events()
            total += sum(e[t] for t in SUBSCRIBED if t in e)
        return total

    def eligible(self, c: CadreModel, period_starts_today: bool, amounts: dict[str, int]) -> tuple[bool, int]:
        """The incentive rules for the open period (cap never binds: at most 4 cadres a Posyandu)."""
        p = self.posyandu[c.posyandu]
        # Deactivation and reactivation take effect today: a cadre inactive on any day of the
        # period is not paid for it, unless reactivated on its first day.
        active = c.deactivations == 0 or (c.status == "active" and period_starts_today)
        ok = active and c.certificate_status == "valid" and p.verification == "VERIFIED"
        level = c.level
        return (ok, amounts[level] if ok and level else 0)


@dataclass
class Plan:
    seed: int
    tag: str
    today: date
    ops: list[Op]  # in the order they go out

    def model(self, sent: int | None = None) -> Model:
        """The model after the first `sent` writes (all by default). The first writes of the
        plan are closed under "needs": each write's prerequisites go out before it."""
        m = Model()
        for op in self.ops[: len(self.ops) if sent is None else sent]:
            m.apply(op)
        return m


class _Builder:
    """Draws the writes story by story (a Posyandu, then each of its cadres), applying each
    to a model as it goes so that later writes fit the state (an upgrade needs a level)."""

    def __init__(self, seed: int, tag: str, today: date, kelurahan: list[tuple[str, str]]) -> None:
        self.rng = random.Random(seed)
        self.tag = tag
        self.today = today
        self.kelurahan = kelurahan  # (kelurahan code, kecamatan code)
        self.ops: list[Op] = []
        self.model = Model()
        self.serial = 0

    def op(self, vt: float, **kw: Any) -> Op:
        o = Op(index=len(self.ops), vt=vt, **kw)
        self.ops.append(o)
        self.model.apply(o)
        return o

    # ---------------------------------------------------------------- Posyandu

    def posyandu_story(self, i: int, start: float) -> None:
        rng = self.rng
        kel, kec = rng.choice(self.kelurahan)
        ref = f"p{i}"
        has_sk = rng.random() < 0.85
        body: dict[str, Any] = {
            "name": f"Posyandu {rng.choice(FLOWERS)} {self.tag} {i:03d}",
            "kelurahan_code": kel,
            "posyandu_type": rng.choice(["balita", "balita", "lansia", "ILP"]),
            "rt": f"{rng.randint(1, 40):03d}",
            "puskesmas": "Puskesmas Klandasan Ilir",
        }
        if has_sk:
            body["institution"] = {"sk_number": f"188.4/{i}/{self.tag}/2025", "sk_date": "2025-02-03"}
        t = start
        reg = self.op(t, kind="posyandu.register", service="registry", method="POST", path="/posyandu",
                      body=body, lane=ref, ref=ref)  # fmt: skip
        t += rng.uniform(2, 10)
        self.assess(ref, t)
        roll = rng.random()
        if roll < 0.85:
            t += rng.uniform(2, 10)
            self.decide(ref, t, "VERIFIED" if has_sk and roll < 0.65 else "REJECTED")
            if rng.random() < 0.25:
                t += rng.uniform(2, 10)
                self.assess(ref, t)
                if has_sk and rng.random() < 0.6:
                    t += rng.uniform(2, 10)
                    self.decide(ref, t, "VERIFIED")
        for j in range(rng.choice([2, 3, 3, 4])):
            self.cadre_story(ref, kec, j, reg, start + rng.uniform(1, 25))

    def assess(self, ref: str, vt: float) -> None:
        body = {
            "facility_status": self.rng.choice(FACILITIES),
            "equipment": [{"item": "dacin", "available": True, "functional": True}],
            "assessed_by": "Puskesmas Klandasan Ilir",
            "assessed_on": self.today.isoformat(),
        }
        self.op(vt, kind="posyandu.assess", service="registry", method="POST", path=f"/posyandu/{{{ref}}}/assessments",
                body=body, lane=ref)  # fmt: skip

    def decide(self, ref: str, vt: float, decision: str) -> None:
        body: dict[str, Any] = {"decision": decision, "note": "fault test"}
        if decision == "REJECTED":
            has_sk = self.model.posyandu[ref].has_sk
            body["reason"] = "timbangan belum dikalibrasi" if has_sk else "belum ada SK lurah"
        self.op(vt, kind=f"posyandu.{decision.lower()}", service="registry", method="POST",
                path=f"/posyandu/{{{ref}}}/verification", body=body, lane=ref,
                notifies=(f"PosyanduFacility{decision.capitalize()}",))  # fmt: skip

    # ---------------------------------------------------------------- cadres

    def cadre_story(self, posyandu_ref: str, kec: str, j: int, registered: Op, start: float) -> None:
        rng = self.rng
        self.serial += 1
        ref = f"c{self.serial}"
        female = rng.random() < 0.85
        birth = date(rng.randint(1965, 2003), rng.randint(1, 12), rng.randint(1, 28))
        day = birth.day + (40 if female else 0)
        body = {
            "nik": f"{kec.replace('.', '')}{day:02d}{birth.month:02d}{birth.year % 100:02d}{self.serial:04d}",
            "name": rng.choice(WOMEN if female else MEN),
            "sex": "F" if female else "M",
            "birth_date": birth.isoformat(),
            "phone": f"08{rng.choice(['11', '12', '13', '52'])}{rng.randint(10_000_000, 99_999_999)}",
            "roles": ["posyandu_cadre"],
            "posyandu_id": f"{{{posyandu_ref}}}",
            "posyandu_role": "ketua" if j == 0 else "core",
            "joined_on": date(rng.randint(2010, 2025), rng.randint(1, 12), 1).isoformat(),
        }
        t = max(start, registered.vt + 0.5)
        self.op(t, kind="cadre.register", service="registry", method="POST", path="/cadres", body=body,
                lane=ref, after=(registered.index,), ref=ref, notifies=("CadreRegistered",))  # fmt: skip
        if rng.random() < 0.65:
            t += rng.uniform(3, 12)
            target = rng.choices(LEVELS, [5, 3, 2])[0]
            groups = GROUPS[: 3 + LEVELS.index(target)]
            results = [(f"{g}.{i}", True) for g in groups for i in range(1, 6)]
            if target != "Utama" and rng.random() < 0.5:  # a few skills of the next group not yet passed
                nxt = GROUPS[len(groups)]
                results += [(f"{nxt}.{i}", False) for i in range(1, rng.randint(2, 4))]
            self.certify(ref, t, results)
            if rng.random() < 0.3:
                t += rng.uniform(3, 12)
                level = self.model.cadres[ref].level or "Purwa"
                if level != "Utama" and rng.random() < 0.6:
                    nxt = GROUPS[3 + LEVELS.index(level)]
                    self.certify(ref, t, [(f"{nxt}.{i}", True) for i in range(1, 6)])  # upgrade
                else:
                    self.certify(ref, t, [(f"1.{i}", True) for i in range(1, 6)])  # renewal
        if rng.random() < 0.2:
            t += rng.uniform(3, 12)
            self.status(ref, t, "deactivation")
            if rng.random() < 0.5:
                t += rng.uniform(3, 12)
                self.status(ref, t, "reactivation")

    def certify(self, ref: str, vt: float, results: list[tuple[str, bool]]) -> None:
        body = {
            "cadre_id": f"{{{ref}}}",
            "assessor": "Puskesmas Klandasan Ilir",
            "assessed_on": self.today.isoformat(),
            "results": [{"skill_code": code, "passed": passed} for code, passed in results],
        }
        # 404 until certification has the cadre from the registry's events.
        self.op(vt, kind="certification.assess", service="certification", method="POST", path="/assessments",
                body=body, lane=ref, not_yet=frozenset({404}))  # fmt: skip

    def status(self, ref: str, vt: float, change: str) -> None:
        reason = "pindah domisili" if change == "deactivation" else "kembali bertugas"
        body = {"reason": reason, "effective_on": self.today.isoformat()}
        deactivation = change == "deactivation"
        kind, event = ("deactivate", "CadreDeactivated") if deactivation else ("reactivate", "CadreReactivated")
        self.op(vt, kind=f"cadre.{kind}", service="registry", method="POST",
                path=f"/cadres/{{{ref}}}/{change}", body=body, lane=ref, notifies=(event,))  # fmt: skip


def make_plan(
    seed: int, tag: str, today: date, kelurahan: list[tuple[str, str]], posyandu: int, duration_s: float
) -> Plan:
    """`posyandu` stories spread over the load; the writes then go out at a steady rate
    (the k-th write at k * duration / writes), in the order of their virtual times."""
    b = _Builder(seed, tag, today, kelurahan)
    for i in range(1, posyandu + 1):
        b.posyandu_story(i, b.rng.uniform(0, 100))
    ordered = sorted(b.ops, key=lambda o: (o.vt, o.index))
    position = {o.index: k for k, o in enumerate(ordered)}
    for o in b.ops:
        o.at = position[o.index] * duration_s / len(b.ops)
        assert all(position[a] < position[o.index] for a in o.after)
    # A lane's writes keep their order (its later writes wait for the earlier ones).
    last: dict[str, int] = {}
    for o in ordered:
        if o.lane in last:
            o.after = (*o.after, last[o.lane])
        last[o.lane] = o.index
    return Plan(seed, tag, today, ordered)
