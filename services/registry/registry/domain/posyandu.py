"""Posyandu rules: identity of a Posyandu within its kelurahan, verification of its facility
and institution, closure and merger."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

from registry.domain.errors import FieldError, RuleViolation
from sikader_shared.events import PosyanduFacilityRejected, PosyanduFacilityVerified

Decision = Literal["VERIFIED", "REJECTED"]

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
    verification_status: Literal["PENDING", "VERIFIED", "REJECTED"]
    has_assessment: bool
    has_sk: bool


def check_decision(state: VerificationState, decision: Decision, reason: str | None, requires_sk: bool = True) -> None:
    """A verifier decides on the latest assessment. VERIFIED needs an assessment (and, as a
    kelurahan institution, a founding decree when `requires_sk`); REJECTED needs a reason. A
    verified Posyandu is verified again only after a new assessment resets it to PENDING."""
    if state.status != "active":
        raise RuleViolation(f"the Posyandu is {state.status}; only an active Posyandu can be verified")
    if decision == "REJECTED" and not (reason and reason.strip()):
        raise FieldError("reason", "a rejection needs a reason")
    if state.verification_status == "VERIFIED":
        raise RuleViolation("the Posyandu is already VERIFIED; record a new facility assessment to verify it again")
    if decision == "VERIFIED":
        if not state.has_assessment:
            raise RuleViolation("no facility assessment recorded yet: assess the facility before verifying")
        if requires_sk and not state.has_sk:
            raise RuleViolation("no founding decree (SK) recorded: the institution cannot be verified without it")


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
) -> PosyanduFacilityVerified | PosyanduFacilityRejected:
    """The verifier's decision, checked by `check_decision`, as the event it raises."""
    check_decision(state, decision, reason, requires_sk)
    common: dict[str, Any] = asdict(facts)
    if decision == "VERIFIED":
        return PosyanduFacilityVerified(**common, verified_by=by, verified_at=at, note=note)
    return PosyanduFacilityRejected(**common, reason=reason or "", rejected_by=by, rejected_at=at)


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
