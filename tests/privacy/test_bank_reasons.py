"""A bank's failure reason is published on sikader.incentives.v1 (IncentivePaymentRecorded)
and mailed to the OPD inbox: the account or e-wallet number a bank quotes back is dropped
when the result file is read, the words are kept."""

from __future__ import annotations

from incentives.domain.payments import parse_result_file, redact_numbers


def test_account_and_wallet_numbers_are_dropped_from_bank_reasons() -> None:
    assert redact_numbers("Rekening 0012345678 a.n. Siti ditutup") == "Rekening [redacted] a.n. Siti ditutup"
    assert redact_numbers("DANA +62 813-9988-7766 tidak aktif") == "DANA [redacted] tidak aktif"
    assert redact_numbers("RC 51: saldo tidak cukup") == "RC 51: saldo tidak cukup"  # short codes stay


def test_result_file_keeps_the_reason_without_the_number() -> None:
    [line] = parse_result_file("reference,result,failure_reason,paid_on\nR1,failed,Rekening 8932824467 ditutup,\n")
    assert (line.result, line.failure_reason) == ("failed", "Rekening [redacted] ditutup")
