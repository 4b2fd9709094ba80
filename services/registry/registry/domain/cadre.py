"""Cadre rules: status changes (decided here, as the events they raise) and assignment."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from registry.domain.errors import FieldError, RuleViolation
from sikader_shared.events import CadreDeactivated, CadreReactivated


@dataclass(frozen=True)
class CadrePlace:
    """Where a cadre serves, as the status events carry it."""

    cadre_id: str
    kelurahan_code: str
    kecamatan_code: str
    posyandu_id: str | None


def check_deactivation(status: str) -> None:
    if status != "active":
        raise RuleViolation("the cadre is already inactive")


def check_reactivation(status: str) -> None:
    if status != "inactive":
        raise RuleViolation("the cadre is already active")


def check_assignment(cadre_status: str, current_posyandu_id: str | None, target_id: str, target_status: str) -> None:
    if cadre_status != "active":
        raise RuleViolation("an inactive cadre cannot be assigned; reactivate first")
    if target_status != "active":
        raise RuleViolation(f"the Posyandu is {target_status}")
    if current_posyandu_id == target_id:
        raise RuleViolation("the cadre is already assigned to this Posyandu")


def deactivation(status: str, place: CadrePlace, reason: str | None, on: date) -> CadreDeactivated:
    """An active cadre becomes inactive from `on`, for a stated reason."""
    if not reason:
        raise FieldError("reason", "deactivating a cadre needs a reason")
    check_deactivation(status)
    return CadreDeactivated(**asdict(place), reason=reason, effective_on=on)


def reactivation(status: str, place: CadrePlace, reason: str | None, on: date) -> CadreReactivated:
    """An inactive cadre becomes active again from `on`."""
    check_reactivation(status)
    return CadreReactivated(**asdict(place), reason=reason, effective_on=on)
