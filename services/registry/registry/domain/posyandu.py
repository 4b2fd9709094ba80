"""Posyandu rules: identity of a Posyandu within its kelurahan, verification of its facility
and institution, closure and merger."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from registry.domain.errors import FieldError, RuleViolation
from sikader_shared.events import PosyanduFacilityRejected, PosyanduFacilityReturned, PosyanduFacilityVerified

Decision = Literal["VERIFIED", "REJECTED", "RETURNED"]

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]")
_PREFIX = re.compile(r"^posyandu\s+")


def normalise_name(name: str) -> str:
    """Key for "the same Posyandu" within a kelurahan: case, accents, punctuation, extra
    spaces and a leading word "Posyandu" do not matter ("POSYANDU  Melati-1" == "melati 1")."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    text = _SPACES.sub(" ", _PUNCT.sub(" ", text)).strip()
    text = _PREFIX.sub("", text)
    return text


@dataclass(frozen=True)
class VerificationState:
    status: Literal["active", "closed", "merged"]
    verification_status: Literal["PENDING", "VERIFIED", "REJECTED", "RETURNED"]
    has_assessment: bool
    has_sk: bool
    # Shown as gaps in the verification queue; they do not block VERIFIED.
    has_lkk_registration: bool = True
    has_management: bool = True
    unavailable_equipment: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gap:
    """Something missing before verification: `blocking` ones make VERIFIED fail."""

    code: str
    message_id: str
    message_en: str
    blocking: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_ASSESSMENT_EN = "no facility assessment recorded yet: assess the facility before verifying"
NO_SK_EN = "no founding decree (SK) recorded: the institution cannot be verified without it"


def verification_gaps(state: VerificationState, requires_sk: bool = True) -> list[Gap]:
    """What stands between the Posyandu and VERIFIED (blocking), and what is absent without
    blocking it. The verification queue shows these; a refused VERIFIED names the blocking ones."""
    gaps: list[Gap] = []
    if state.verification_status == "RETURNED":
        gaps.append(
            Gap(
                "returned_for_correction",
                "dikembalikan untuk perbaikan: catat penilaian fasilitas yang baru",
                "sent back for correction: record a new facility assessment",
                True,
            )
        )
    if not state.has_assessment:
        gaps.append(
            Gap(
                "no_assessment",
                "belum ada penilaian fasilitas: nilai fasilitas sebelum verifikasi",
                NO_ASSESSMENT_EN,
                True,
            )
        )
    if not state.has_sk:
        gaps.append(
            Gap(
                "no_sk",
                "belum ada SK pembentukan dari lurah: kelembagaan tidak dapat diverifikasi",
                NO_SK_EN,
                requires_sk,
            )
        )
    if not state.has_lkk_registration:
        gaps.append(
            Gap(
                "no_lkk_registration",
                "belum terdaftar sebagai lembaga kemasyarakatan kelurahan (LKK)",
                "not registered as a kelurahan community institution (LKK)",
                False,
            )
        )
    if not state.has_management:
        gaps.append(Gap("no_management", "susunan pengurus belum dicatat", "no management positions recorded", False))
    if state.unavailable_equipment:
        items = ", ".join(state.unavailable_equipment)
        gaps.append(
            Gap(
                "equipment_unavailable",
                f"peralatan tidak tersedia: {items}",
                f"equipment not available: {items}",
                False,
            )
        )
    return gaps


def check_decision(state: VerificationState, decision: Decision, reason: str | None, requires_sk: bool = True) -> None:
    """A verifier decides on the latest assessment. VERIFIED needs what `verification_gaps`
    marks blocking (an assessment, a founding decree when `requires_sk`, not awaiting a
    correction); REJECTED and RETURNED need a reason. RETURNED sends a pending assessment back
    for correction: the Posyandu waits for a new assessment. A verified Posyandu is decided
    again only after a new assessment resets it to PENDING."""
    if state.status != "active":
        raise RuleViolation(f"the Posyandu is {state.status}; only an active Posyandu can be verified")
    if decision in ("REJECTED", "RETURNED") and not (reason and reason.strip()):
        raise FieldError(
            "reason", "a rejection needs a reason" if decision == "REJECTED" else "sending back needs a reason"
        )
    if state.verification_status == "VERIFIED":
        raise RuleViolation("the Posyandu is already VERIFIED; record a new facility assessment to verify it again")
    if decision == "RETURNED":
        if state.verification_status == "RETURNED":
            raise RuleViolation(
                "the Posyandu was already sent back for correction; a new facility assessment is awaited"
            )
        if state.verification_status != "PENDING" or not state.has_assessment:
            raise RuleViolation("only a pending facility assessment can be sent back for correction")
    if decision == "VERIFIED":
        blocking = [g for g in verification_gaps(state, requires_sk) if g.blocking]
        if blocking:
            raise RuleViolation("; ".join(g.message_en for g in blocking), missing=[g.as_dict() for g in blocking])


@dataclass(frozen=True)
class VerifiedFacts:
    """What a verification decision says about the Posyandu it covers."""

    posyandu_id: str
    kelurahan_code: str
    kecamatan_code: str
    name: str
    assessment_id: str | None
    facility_status: str | None


def decide_verification(
    state: VerificationState,
    facts: VerifiedFacts,
    decision: Decision,
    reason: str | None,
    note: str | None,
    by: str,
    at: datetime,
    requires_sk: bool = True,
) -> PosyanduFacilityVerified | PosyanduFacilityRejected | PosyanduFacilityReturned:
    """The verifier's decision, checked by `check_decision`, as the event it raises."""
    check_decision(state, decision, reason, requires_sk)
    common: dict[str, Any] = asdict(facts)
    if decision == "VERIFIED":
        return PosyanduFacilityVerified(**common, verified_by=by, verified_at=at, note=note)
    if decision == "RETURNED":
        return PosyanduFacilityReturned(**common, reason=reason or "", note=note, decided_by=by, decided_at=at)
    return PosyanduFacilityRejected(**common, reason=reason or "", rejected_by=by, rejected_at=at)


def published_verification_status(status: str) -> str:
    """The verification state the events carry. RETURNED is published as PENDING (not
    verified, awaiting a corrected assessment): the events' contract knows three states, and
    a consumer that ignores PosyanduFacilityReturned keeps PENDING, which stays true."""
    return "PENDING" if status == "RETURNED" else status


def check_closure(
    posyandu_id: str,
    status: str,
    closure: Literal["closed", "merged"],
    target_id: str | None,
    target_status: str | None,
) -> None:
    """A merger needs an active Posyandu to merge into; a closure may name one to move the
    cadres to. Neither can point at the Posyandu itself."""
    if status != "active":
        raise RuleViolation(f"the Posyandu is already {status}")
    if closure == "merged" and target_id is None:
        raise FieldError("merged_into_posyandu_id", "a merger needs the Posyandu it merges into")
    if target_id is not None:
        if target_id == posyandu_id:
            raise FieldError(
                "merged_into_posyandu_id" if closure == "merged" else "reassign_to_posyandu_id",
                "cannot be the Posyandu being closed",
            )
        if target_status is None:
            raise FieldError(
                "merged_into_posyandu_id" if closure == "merged" else "reassign_to_posyandu_id", "no such Posyandu"
            )
        if target_status != "active":
            raise RuleViolation(f"the receiving Posyandu is {target_status}")
