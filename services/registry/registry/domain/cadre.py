"""Cadre status rules."""

from __future__ import annotations

from registry.domain.errors import RuleViolation


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
