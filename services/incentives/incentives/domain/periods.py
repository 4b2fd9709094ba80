"""Monthly incentive periods (calendar months in WITA) and their guarded state machine:
open -> calculated -> approved -> paid -> closed. Every refused transition says why."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sikader_shared.clock import WITA

PERIOD_RE = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        m = PERIOD_RE.match(text)
        if m is None:
            raise ValueError(f"period must be 'YYYY-MM', got {text!r}")
        if m.group(1) == "0000":  # not a calendar year: its dates cannot even be formed
            raise ValueError("period year must be 0001 or later")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, moment: datetime) -> Period:
        """The period a moment falls in, in WITA (a month starts at 00:00 Asia/Makassar)."""
        local = moment.astimezone(WITA)
        return cls(local.year, local.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def next(self) -> Period:
        return Period(self.year + 1, 1) if self.month == 12 else Period(self.year, self.month + 1)

    def previous(self) -> Period:
        return Period(self.year - 1, 12) if self.month == 1 else Period(self.year, self.month - 1)


def wita_date(moment: datetime) -> date:
    """The calendar day (in WITA) of an aware moment."""
    return moment.astimezone(WITA).date()


class PeriodState(StrEnum):
    OPEN = "open"
    CALCULATED = "calculated"
    APPROVED = "approved"
    PAID = "paid"
    CLOSED = "closed"


class Action(StrEnum):
    CALCULATE = "calculate"
    APPROVE = "approve"
    EXPORT_PAYMENTS = "export_payments"
    RECORD_RESULTS = "record_results"
    CLOSE = "close"


ALLOWED_FROM: dict[Action, frozenset[PeriodState]] = {
    Action.CALCULATE: frozenset({PeriodState.OPEN, PeriodState.CALCULATED}),
    Action.APPROVE: frozenset({PeriodState.CALCULATED}),
    Action.EXPORT_PAYMENTS: frozenset({PeriodState.APPROVED, PeriodState.PAID}),
    Action.RECORD_RESULTS: frozenset({PeriodState.APPROVED, PeriodState.PAID}),
    Action.CLOSE: frozenset({PeriodState.PAID}),
}

# Why an action is refused in a state, in words an operator can act on.
_REFUSALS: dict[tuple[Action, PeriodState], str] = {
    (Action.CALCULATE, PeriodState.APPROVED): "it is approved: an approved period changes only by payment results; "
    "late changes become corrections in the next period",
    (Action.CALCULATE, PeriodState.PAID): "it is paid: late changes become corrections in the next period",
    (Action.CALCULATE, PeriodState.CLOSED): "it is closed: nothing in it changes any more",
    (Action.APPROVE, PeriodState.OPEN): "it has not been calculated yet: calculate it first",
    (Action.APPROVE, PeriodState.APPROVED): "it is already approved",
    (Action.APPROVE, PeriodState.PAID): "it is already approved and paid",
    (Action.APPROVE, PeriodState.CLOSED): "it is closed",
    (Action.EXPORT_PAYMENTS, PeriodState.OPEN): "it is not approved: calculate and approve it first",
    (Action.EXPORT_PAYMENTS, PeriodState.CALCULATED): "it is not approved yet: payments need an approval",
    (Action.EXPORT_PAYMENTS, PeriodState.CLOSED): "it is closed: failed payments were carried to a later period",
    (Action.RECORD_RESULTS, PeriodState.OPEN): "it has no payment batch: it is not approved",
    (Action.RECORD_RESULTS, PeriodState.CALCULATED): "it has no payment batch: it is not approved",
    (Action.RECORD_RESULTS, PeriodState.CLOSED): "it is closed: nothing in it changes any more",
    (Action.CLOSE, PeriodState.OPEN): "it has not been calculated, approved or paid",
    (Action.CLOSE, PeriodState.CALCULATED): "it has not been approved or paid",
    (Action.CLOSE, PeriodState.APPROVED): "the bank has not answered for every payment yet "
    "(export a payment file and import the bank's results)",
    (Action.CLOSE, PeriodState.CLOSED): "it is already closed",
}


class TransitionRefused(Exception):
    """An illegal transition of a period; `reason` says why."""

    def __init__(self, period: str, action: Action, state: PeriodState, reason: str) -> None:
        super().__init__(f"cannot {action.value.replace('_', ' ')} period {period}: {reason}")
        self.period = period
        self.action = action
        self.state = state
        self.reason = reason


def check_transition(period: str, action: Action, state: PeriodState) -> None:
    if state in ALLOWED_FROM[action]:
        return
    reason = _REFUSALS.get((action, state), f"it is {state.value}")
    raise TransitionRefused(period, action, state, reason)


def allowed_actions(state: PeriodState) -> list[str]:
    return [a.value for a, states in ALLOWED_FROM.items() if state in states]


class DutiesNotSegregated(Exception):
    """The approver is the key, or the OPD client, that calculated the period."""


def check_segregation(
    calculated_by_client: str | None, calculated_by_key: str | None, approver_client: str, approver_key: str | None
) -> None:
    if calculated_by_key is not None and approver_key == calculated_by_key:
        raise DutiesNotSegregated("the key that calculated the period cannot approve it (segregation of duties)")
    if calculated_by_client is not None and approver_client == calculated_by_client:
        raise DutiesNotSegregated(
            f"OPD client {approver_client!r} calculated the period and cannot also approve it (segregation of duties)"
        )
