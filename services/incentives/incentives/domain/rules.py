"""Eligibility rules: the reference evaluation (pure Python), the reasons of a decision in
Indonesian and English, and the canonical form of a decision set (for its hash).

The period calculation runs the same rules as one set-based SQL statement
(adapters/calculation.py); a test checks that both give identical decisions.

Rules, in order:
1. cadre_active      - not inactive on any day of the period since registration
2. certificate_valid - a certificate valid on the period's last day (the highest level counts)
3. posyandu_verified - the cadre's primary Posyandu is VERIFIED
4. posyandu_open     - that Posyandu is open at the period's end (not closed or merged)
5. posyandu_cap      - among the cadres of the Posyandu meeting 1-4, rank <= cap; priority:
                       level (highest first), then tenure (longest first), then cadre id
6. budget            - with a ceiling: whole rounds of the fair order fit (see README)
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from incentives.domain.facts import CadreFacts, CertificateFacts, PosyanduFacts
from incentives.domain.periods import Period
from incentives.domain.policy import RULE_BIT, Policy

FAR_FUTURE = date(9999, 12, 31)
CAP_BIT = RULE_BIT["posyandu_cap"]
BUDGET_BIT = RULE_BIT["budget"]


@dataclass(frozen=True)
class Decision:
    """One cadre's decision for one period, with the facts it used (a snapshot, so that the
    reasons can be told later exactly as decided)."""

    cadre_id: str
    posyandu_id: str | None
    kelurahan_code: str
    kecamatan_code: str
    cadre_status: str
    deactivated_on: date | None
    reactivated_on: date | None
    cadre_event_id: str | None
    assignment_event_id: str | None
    certificate_id: str | None
    certificate_number: str | None
    level: str | None
    certificate_status: str | None
    certificate_status_on: date | None
    certificate_valid_from: date | None
    certificate_expires_on: date | None
    certificate_event_id: str | None
    posyandu_name: str | None
    verification_status: str | None
    verification_on: date | None
    verification_event_id: str | None
    posyandu_status: str | None
    posyandu_closed_on: date | None
    posyandu_event_id: str | None
    failed_mask: int  # every rule that failed (also requirements the policy does not require)
    posyandu_rank: int | None  # rank among the Posyandu's cadres meeting the requirements
    eligible: bool
    amount: int

    def failed(self, rule: str) -> bool:
        return bool(self.failed_mask & RULE_BIT[rule])

    @property
    def level_used(self) -> str | None:
        return None if self.failed("certificate_valid") else self.level

    def before_budget(self, policy: Policy) -> tuple[bool, int]:
        return outcome_before_budget(self.eligible, self.failed_mask, self.amount, self.level, policy)


def outcome_before_budget(
    eligible: bool, failed_mask: int, amount: int, level: str | None, policy: Policy
) -> tuple[bool, int]:
    """(eligible, amount) with the budget rule left out: what a live decision says, and what a
    calculated one is compared with. The budget rule only ever fails a cadre who passed every
    other rule, and such a decision is stored with 0: its amount before the rule is the policy's."""
    if eligible:
        return True, amount
    if failed_mask & BUDGET_BIT:
        return True, policy.amount_for(level)
    return False, 0


# --------------------------------------------------------------------------- single facts


def active_through(c: CadreFacts, period: Period) -> bool:
    """Not inactive on any day of the period: the last inactive spell [deactivated_on,
    reactivated_on) does not overlap it."""
    if c.deactivated_on is None or c.deactivated_on > period.end:
        return True
    if c.status == "inactive":
        return False
    return c.reactivated_on is not None and c.reactivated_on <= period.start


def certificate_valid_on(k: CertificateFacts, day: date) -> bool:
    return (
        (k.valid_from is None or k.valid_from <= day)
        and k.expires_on >= day
        and (k.status == "valid" or (k.status_on is not None and k.status_on > day))
    )


def best_certificate(certs: Iterable[CertificateFacts], day: date) -> CertificateFacts | None:
    """The certificate a decision cites: a valid one first, the highest level, the longest
    validity, then the lowest id (deterministic)."""
    ranked = sorted(
        certs,
        key=lambda k: (not certificate_valid_on(k, day), -k.level_rank, -k.expires_on.toordinal(), k.certificate_id),
    )
    return ranked[0] if ranked else None


def posyandu_verified(p: PosyanduFacts | None, day: date) -> bool:
    return (
        p is not None
        and p.verification_status == "VERIFIED"
        and (p.verification_on is None or p.verification_on <= day)
    )


def posyandu_open(p: PosyanduFacts | None, day: date) -> bool:
    return p is not None and (p.status == "active" or (p.closed_on is not None and p.closed_on > day))


def tenure_key(c: CadreFacts) -> date:
    return c.joined_on or c.registered_on or FAR_FUTURE


# --------------------------------------------------------------------------- reference evaluation


@dataclass
class _Row:
    cadre: CadreFacts
    cert: CertificateFacts | None
    posyandu: PosyanduFacts | None
    mask: int
    level_rank: int
    rank: int | None = None
    amount: int = 0


def evaluate(
    cadres: Iterable[CadreFacts],
    posyandu: dict[str, PosyanduFacts],
    certificates: dict[str, list[CertificateFacts]],
    period: Period,
    policy: Policy,
    *,
    apply_budget: bool,
) -> list[Decision]:
    """Decisions for the given cadres (all the cadres of each Posyandu concerned must be
    given, because the cap ranks them together). Cadres registered after the period are
    not part of it."""
    end = period.end
    rows: list[_Row] = []
    for c in cadres:
        if c.registered_on is not None and c.registered_on > end:
            continue
        cert = best_certificate(certificates.get(c.cadre_id, []), end)
        p = posyandu.get(c.posyandu_id) if c.posyandu_id else None
        mask = 0
        if not active_through(c, period):
            mask |= RULE_BIT["cadre_active"]
        cert_ok = cert is not None and certificate_valid_on(cert, end)
        if not cert_ok:
            mask |= RULE_BIT["certificate_valid"]
        if not posyandu_verified(p, end):
            mask |= RULE_BIT["posyandu_verified"]
        if not posyandu_open(p, end):
            mask |= RULE_BIT["posyandu_open"]
        level_rank = cert.level_rank if cert is not None and cert_ok else 0
        rows.append(_Row(c, cert, p, mask, level_rank))

    required = policy.required_mask
    by_posyandu: dict[str | None, list[_Row]] = defaultdict(list)
    for r in rows:
        if r.mask & required == 0:
            by_posyandu[r.cadre.posyandu_id].append(r)
    for group in by_posyandu.values():
        group.sort(key=lambda r: (-r.level_rank, tenure_key(r.cadre), r.cadre.cadre_id))
        for i, r in enumerate(group, start=1):
            r.rank = i
            if policy.cap_per_posyandu is not None and i > policy.cap_per_posyandu:
                r.mask |= CAP_BIT
            else:
                r.amount = policy.amount_for(r.cert.level if r.cert is not None and r.level_rank else None)

    if apply_budget and policy.budget_ceiling is not None:
        apply_fair_budget([r for r in rows if r.rank is not None and not r.mask & CAP_BIT], policy.budget_ceiling)

    out = []
    for r in sorted(rows, key=lambda r: r.cadre.cadre_id):
        eligible = r.mask & (required | CAP_BIT | BUDGET_BIT) == 0
        out.append(_decision(r, eligible))
    return out


def apply_fair_budget(funded: list[_Row], ceiling: int) -> None:
    """Round r holds every Posyandu's r-th cadre; within a round kelurahan take turns (each
    kelurahan's best cadre of the round before any kelurahan's second). Cadres are funded in
    that order while the running total stays within the ceiling; from the first that does not
    fit, nobody further is funded (no skipping ahead to cheaper cadres)."""
    by_round_kel: dict[tuple[int, str], list[_Row]] = defaultdict(list)
    for r in funded:
        assert r.rank is not None
        by_round_kel[(r.rank, r.cadre.kelurahan_code)].append(r)
    keyed: list[tuple[tuple[int, int, str, str], _Row]] = []
    for (rnd, kel), group in by_round_kel.items():
        group.sort(key=lambda r: (-r.level_rank, tenure_key(r.cadre), r.cadre.cadre_id))
        for turn, r in enumerate(group, start=1):
            keyed.append(((rnd, turn, kel, r.cadre.cadre_id), r))
    total = 0
    for _key, r in sorted(keyed, key=lambda kr: kr[0]):
        total += r.amount
        if total > ceiling:
            r.mask |= BUDGET_BIT


def _decision(r: _Row, eligible: bool) -> Decision:
    c, k, p = r.cadre, r.cert, r.posyandu
    return Decision(
        cadre_id=c.cadre_id,
        posyandu_id=c.posyandu_id,
        kelurahan_code=c.kelurahan_code,
        kecamatan_code=c.kecamatan_code,
        cadre_status=c.status,
        deactivated_on=c.deactivated_on,
        reactivated_on=c.reactivated_on,
        cadre_event_id=c.status_event_id,
        assignment_event_id=c.assignment_event_id,
        certificate_id=k.certificate_id if k else None,
        certificate_number=k.certificate_number if k else None,
        level=k.level if k else None,
        certificate_status=k.status if k else None,
        certificate_status_on=k.status_on if k else None,
        certificate_valid_from=k.valid_from if k else None,
        certificate_expires_on=k.expires_on if k else None,
        certificate_event_id=k.event_id if k else None,
        posyandu_name=p.name if p else None,
        verification_status=p.verification_status if p else None,
        verification_on=p.verification_on if p else None,
        verification_event_id=p.verification_event_id if p else None,
        posyandu_status=p.status if p else None,
        posyandu_closed_on=p.closed_on if p else None,
        posyandu_event_id=p.status_event_id if p else None,
        failed_mask=r.mask,
        posyandu_rank=r.rank,
        eligible=eligible,
        amount=r.amount if eligible else 0,
    )


# --------------------------------------------------------------------------- reasons


@dataclass(frozen=True)
class Reason:
    rule: str
    passed: bool
    fact_en: str
    fact_id: str
    source_event_ids: tuple[str, ...] = ()


def rupiah(amount: int) -> str:
    return "Rp " + f"{amount:,}".replace(",", ".")


_CERT_STATUS_ID = {
    "revoked": "dicabut",
    "suspended": "dibekukan",
    "expired": "kedaluwarsa",
    "superseded": "digantikan",
    "valid": "berlaku",
}


def explain(d: Decision, period: Period, policy: Policy, *, budget_applied: bool) -> list[Reason]:
    """One reason per rule of the policy, with the fact it used and the events behind it."""
    return [
        _active(d, period, policy),
        _certificate(d, period, policy),
        _verified(d, policy),
        _open(d, period, policy),
        _cap(d, policy),
        _budget(d, policy, budget_applied),
    ]


def _ids(*ids: str | None) -> tuple[str, ...]:
    return tuple(i for i in ids if i)


def _not_required(rule: str, policy: Policy, en: str, id_: str, sources: tuple[str, ...]) -> Reason:
    return Reason(
        rule,
        True,
        f"not required by policy {policy.version} ({en})",
        f"tidak disyaratkan oleh kebijakan {policy.version} ({id_})",
        sources,
    )


def _active(d: Decision, period: Period, policy: Policy) -> Reason:
    src = _ids(d.cadre_event_id)
    if not d.failed("cadre_active"):
        if d.cadre_status == "inactive":
            en, id_ = (
                f"cadre active through {period} (deactivated only from {d.deactivated_on})",
                f"kader aktif sepanjang {period} (nonaktif baru sejak {d.deactivated_on})",
            )
        elif d.reactivated_on is not None:
            en, id_ = (
                f"cadre active through {period} (reactivated on {d.reactivated_on})",
                f"kader aktif sepanjang {period} (diaktifkan kembali pada {d.reactivated_on})",
            )
        else:
            en, id_ = f"cadre active through {period}", f"kader aktif sepanjang {period}"
        return Reason("cadre_active", True, en, id_, src)
    if d.cadre_status == "inactive":
        en, id_ = f"cadre inactive since {d.deactivated_on}", f"kader nonaktif sejak {d.deactivated_on}"
    else:
        en = f"cadre inactive from {d.deactivated_on} until reactivated on {d.reactivated_on}, within {period}"
        id_ = (
            f"kader nonaktif dari {d.deactivated_on} sampai diaktifkan kembali pada {d.reactivated_on}, dalam {period}"
        )
    if not policy.requires("cadre_active"):
        return _not_required("cadre_active", policy, en, id_, src)
    return Reason("cadre_active", False, en, id_, src)


def _certificate(d: Decision, period: Period, policy: Policy) -> Reason:
    src = _ids(d.certificate_event_id)
    end = period.end
    cert = f"{d.certificate_number} ({d.level})"
    if d.certificate_id is None:
        en, id_ = "no certificate on record", "belum ada sertifikat"
    elif not d.failed("certificate_valid"):
        en = f"certificate {cert} valid on the period's last day {end}, expires {d.certificate_expires_on}"
        id_ = f"sertifikat {cert} berlaku pada akhir periode {end}, berlaku sampai {d.certificate_expires_on}"
        return Reason("certificate_valid", True, en, id_, src)
    elif d.certificate_status != "valid" and d.certificate_status_on is not None and d.certificate_status_on <= end:
        status = d.certificate_status or ""
        en = f"certificate {cert} {status} on {d.certificate_status_on}"
        id_ = f"sertifikat {cert} {_CERT_STATUS_ID.get(status, status)} pada {d.certificate_status_on}"
    elif d.certificate_expires_on is not None and d.certificate_expires_on < end:
        en = f"certificate {cert} expires on {d.certificate_expires_on}, before the period's last day {end}"
        id_ = f"sertifikat {cert} berakhir pada {d.certificate_expires_on}, sebelum akhir periode {end}"
    else:
        en = f"certificate {cert} valid again only from {d.certificate_valid_from}, after {end}"
        id_ = f"sertifikat {cert} baru berlaku kembali sejak {d.certificate_valid_from}, setelah {end}"
    if not policy.requires("certificate_valid"):
        return _not_required("certificate_valid", policy, en, id_, src)
    return Reason("certificate_valid", False, en, id_, src)


def _verified(d: Decision, policy: Policy) -> Reason:
    src = _ids(d.verification_event_id)
    name = f"Posyandu {d.posyandu_name or d.posyandu_id}"
    passed = not d.failed("posyandu_verified")
    if d.posyandu_id is None:
        en, id_ = "not assigned to a Posyandu", "belum ditugaskan di Posyandu"
    elif d.verification_status is None:
        en, id_ = f"{name} not known to incentives yet", f"{name} belum tercatat di layanan insentif"
    elif passed:
        en, id_ = (
            f"{name} VERIFIED since {d.verification_on}",
            f"{name} terverifikasi (VERIFIED) sejak {d.verification_on}",
        )
    else:
        en = f"{name} is {d.verification_status} since {d.verification_on}, not VERIFIED"
        id_ = f"{name} berstatus {d.verification_status} sejak {d.verification_on}, belum terverifikasi"
    if not policy.requires("posyandu_verified"):
        return _not_required("posyandu_verified", policy, en, id_, src)
    return Reason("posyandu_verified", passed, en, id_, src)


def _open(d: Decision, period: Period, policy: Policy) -> Reason:
    src = _ids(d.posyandu_event_id)
    name = f"Posyandu {d.posyandu_name or d.posyandu_id}"
    passed = not d.failed("posyandu_open")
    if d.posyandu_id is None:
        en, id_ = "not assigned to a Posyandu", "belum ditugaskan di Posyandu"
    elif d.posyandu_status is None:
        en, id_ = f"{name} not known to incentives yet", f"{name} belum tercatat di layanan insentif"
    elif d.posyandu_status == "active":
        en, id_ = f"{name} open", f"{name} aktif"
    elif passed:
        en = f"{name} open through {period} ({d.posyandu_status} from {d.posyandu_closed_on})"
        id_ = f"{name} aktif sepanjang {period} (ditutup sejak {d.posyandu_closed_on})"
    elif d.posyandu_status == "merged":
        en, id_ = f"{name} merged on {d.posyandu_closed_on}", f"{name} digabung pada {d.posyandu_closed_on}"
    else:
        en, id_ = f"{name} closed on {d.posyandu_closed_on}", f"{name} ditutup pada {d.posyandu_closed_on}"
    if not policy.requires("posyandu_open"):
        return _not_required("posyandu_open", policy, en, id_, src)
    return Reason("posyandu_open", passed, en, id_, src)


def _cap(d: Decision, policy: Policy) -> Reason:
    src = _ids(d.assignment_event_id)
    cap = policy.cap_per_posyandu
    name = f"Posyandu {d.posyandu_name or d.posyandu_id}"
    if d.posyandu_rank is None:
        return Reason(
            "posyandu_cap",
            True,
            "not applied: the cadre does not meet the requirements above",
            "tidak diterapkan: kader belum memenuhi syarat di atas",
            src,
        )
    if cap is None:
        return Reason(
            "posyandu_cap",
            True,
            f"no cap of paid cadres per Posyandu in policy {policy.version}",
            f"tidak ada batas jumlah kader dibayar per Posyandu dalam kebijakan {policy.version}",
            src,
        )
    passed = not d.failed("posyandu_cap")
    en = (
        f"rank {d.posyandu_rank} of the cadres meeting the requirements at {name}; "
        f"{'within' if passed else 'beyond'} the cap of {cap} (priority: level, then tenure)"
    )
    id_ = (
        f"peringkat {d.posyandu_rank} di antara kader yang memenuhi syarat di {name}; "
        f"{'dalam' if passed else 'melebihi'} batas {cap} kader (prioritas: jenjang, lalu masa bakti)"
    )
    return Reason("posyandu_cap", passed, en, id_, src)


def _budget(d: Decision, policy: Policy, applied: bool) -> Reason:
    ceiling = policy.budget_ceiling
    if ceiling is None:
        return Reason(
            "budget",
            True,
            f"no budget ceiling in policy {policy.version}",
            f"tidak ada pagu anggaran dalam kebijakan {policy.version}",
        )
    if not applied:
        return Reason(
            "budget",
            True,
            f"the budget ceiling of {rupiah(ceiling)} is applied when the period is calculated",
            f"pagu anggaran {rupiah(ceiling)} diterapkan saat periode dihitung",
        )
    if d.posyandu_rank is None or d.failed("posyandu_cap"):
        return Reason(
            "budget",
            True,
            "not applied: the cadre is not funded by the rules above",
            "tidak diterapkan: kader tidak didanai menurut aturan di atas",
        )
    if not d.failed("budget"):
        return Reason(
            "budget",
            True,
            f"within the budget ceiling of {rupiah(ceiling)} (round {d.posyandu_rank} of the fair order)",
            f"dalam pagu anggaran {rupiah(ceiling)} (putaran {d.posyandu_rank} urutan adil)",
        )
    return Reason(
        "budget",
        False,
        f"the budget ceiling of {rupiah(ceiling)} was reached in round {d.posyandu_rank} of the fair order",
        f"pagu anggaran {rupiah(ceiling)} habis pada putaran {d.posyandu_rank} urutan adil",
    )


# --------------------------------------------------------------------------- canonical form


HASH_COLUMNS: tuple[str, ...] = (
    "cadre_id",
    "posyandu_id",
    "eligible",
    "amount",
    "level",
    "failed_mask",
    "posyandu_rank",
    "certificate_id",
)


def decision_line(values: Sequence[object]) -> str:
    """The canonical line of a decision, from its HASH_COLUMNS values."""
    out = []
    for v in values:
        if v is None:
            out.append("-")
        elif isinstance(v, bool):
            out.append("1" if v else "0")
        else:
            out.append(str(v))
    return "|".join(out)


def decision_set_hash(header: str, lines: Iterable[str], adjustment_lines: Iterable[str] = ()) -> str:
    """SHA-256 over the header, the decision lines (ordered by cadre id) and the adjustment
    lines: the same inputs give the same bytes and so the same hash."""
    h = hashlib.sha256()
    h.update(header.encode("utf-8") + b"\n")
    for line in lines:
        h.update(line.encode("utf-8") + b"\n")
    return finish_hash(h, adjustment_lines)


def finish_hash(h: Any, adjustment_lines: Iterable[str]) -> str:
    h.update(b"--adjustments--\n")
    for line in adjustment_lines:
        h.update(line.encode("utf-8") + b"\n")
    return str(h.hexdigest())


def hash_values(d: Decision) -> tuple[object, ...]:
    return tuple(getattr(d, c) for c in HASH_COLUMNS)


def lines_of(decisions: Iterable[Decision]) -> Iterator[str]:
    for d in sorted(decisions, key=lambda d: d.cadre_id):
        yield decision_line(hash_values(d))
