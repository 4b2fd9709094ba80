"""The payment file sent to the bank and the bank's result file."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

PAYMENT_FILE_COLUMNS = (
    "reference",
    "period",
    "cadre_id",
    "cadre_name",
    "method",
    "bank",
    "account_number",
    "account_holder",
    "amount",
)
RESULT_FILE_COLUMNS = ("reference", "result", "failure_reason", "paid_on")
NO_PAYMENT_DETAILS = "no payment details on record"
# A number of 6+ digits (spaces, dots, dashes between them allowed): an account or e-wallet number.
_LONG_NUMBER = re.compile(r"(?<!\d)\+?\d(?:[ .-]?\d){5,}")


def redact_numbers(reason: str) -> str:
    """The bank's reason goes out on the public incentives topic and into mail (UU 27/2022:
    no account numbers there), and banks quote the account back ("Rekening 0012345678
    ditutup"): keep the words, not the number."""
    return _LONG_NUMBER.sub("[redacted]", reason)


def payment_reference(period: str, batch_number: int, line: int) -> str:
    """Stable, unique per line: INC-<period>-B<batch>-<line>."""
    return f"INC-{period}-B{batch_number:02d}-{line:06d}"


@dataclass(frozen=True)
class PaymentLine:
    reference: str
    period: str
    cadre_id: str
    cadre_name: str
    method: str
    bank: str
    account_number: str
    account_holder: str
    amount: int


def payment_file(lines: Iterable[PaymentLine]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PAYMENT_FILE_COLUMNS)
    for x in lines:
        w.writerow(
            [
                x.reference,
                x.period,
                x.cadre_id,
                x.cadre_name,
                x.method,
                x.bank,
                x.account_number,
                x.account_holder,
                x.amount,
            ]
        )
    return buf.getvalue()


@dataclass(frozen=True)
class BankResult:
    line: int
    reference: str
    result: str  # paid | failed
    failure_reason: str | None
    paid_on: date | None


class ResultFileInvalid(ValueError):
    def __init__(self, errors: list[dict[str, object]]) -> None:
        super().__init__("; ".join(f"line {e['line']}: {e['msg']}" for e in errors[:5]))
        self.errors = errors


def parse_result_file(text: str) -> list[BankResult]:
    """Parses `reference,result,failure_reason,paid_on` (header required). Collects every
    line's problem, so the operator can fix the file in one go."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("reference", "result") if c not in header]
    if missing:
        raise ResultFileInvalid([{"line": 1, "field": c, "msg": f"missing column {c!r}"} for c in missing])
    out: list[BankResult] = []
    errors: list[dict[str, object]] = []
    seen: set[str] = set()
    for n, row in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
        ref, result = row.get("reference", ""), row.get("result", "").lower()
        reason = redact_numbers(row.get("failure_reason") or "") or None
        paid_raw = row.get("paid_on") or ""
        if not ref:
            errors.append({"line": n, "field": "reference", "msg": "reference is empty"})
            continue
        if ref in seen:
            errors.append({"line": n, "field": "reference", "msg": f"reference {ref} appears twice"})
            continue
        seen.add(ref)
        if result not in ("paid", "failed"):
            errors.append({"line": n, "field": "result", "msg": "result must be 'paid' or 'failed'"})
            continue
        if result == "failed" and not reason:
            errors.append({"line": n, "field": "failure_reason", "msg": "a failed payment needs the bank's reason"})
            continue
        paid_on: date | None = None
        if paid_raw:
            try:
                paid_on = date.fromisoformat(paid_raw)
            except ValueError:
                errors.append({"line": n, "field": "paid_on", "msg": "paid_on must be a date YYYY-MM-DD"})
                continue
        out.append(BankResult(n, ref, result, reason if result == "failed" else None, paid_on))
    if errors:
        raise ResultFileInvalid(errors)
    if not out:
        raise ResultFileInvalid([{"line": 2, "field": "reference", "msg": "the file has no result lines"}])
    return out
