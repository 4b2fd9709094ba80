"""Identity rules for cadres: the NIK (Nomor Induk Kependudukan), phone numbers, and the
masking of personal data for readers without the `registry:pii` scope."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date
from typing import Literal

from registry.domain.errors import FieldError

Sex = Literal["F", "M"]

_NON_DIGIT = re.compile(r"\D")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def check_nik(nik: str, birth_date: date, sex: Sex, region_prefixes: Iterable[str] = ()) -> str:
    """Return the NIK if it is 16 digits, issued in one of `region_prefixes` (empty: any
    region), and its digits 7-12 (DDMMYY, DD + 40 for women) agree with the stated birth date
    and sex. Raises FieldError("nik", reason) otherwise."""
    nik = nik.strip()
    if len(nik) != 16 or not nik.isascii() or not nik.isdigit():
        raise FieldError("nik", "NIK must be exactly 16 digits")
    prefixes = [p.replace(".", "") for p in region_prefixes if p]
    if prefixes and not any(nik.startswith(p) for p in prefixes):
        raise FieldError(
            "nik", f"NIK was not issued in this region (expected it to start with {' or '.join(prefixes)})"
        )
    day, month, year = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    nik_sex: Sex = "F" if day > 40 else "M"
    if nik_sex == "F":
        day -= 40
    if not (1 <= day <= 31 and 1 <= month <= 12):
        raise FieldError("nik", "digits 7-12 of the NIK are not a birth date (DDMMYY, DD + 40 for women)")
    if nik[12:] == "0000":
        raise FieldError("nik", "the NIK serial (digits 13-16) cannot be 0000")
    if (day, month, year) != (birth_date.day, birth_date.month, birth_date.year % 100):
        raise FieldError("nik", "the birth date in the NIK (digits 7-12) contradicts the stated birth date")
    if nik_sex != sex:
        raise FieldError("nik", "the NIK encodes the other sex (day + 40 for women) than the one stated")
    return nik


def nik_hash(nik: str, pepper: str) -> str:
    """Lookup key for a NIK: equality search and uniqueness without indexing the NIK itself."""
    return hashlib.sha256(f"{pepper}:{nik}".encode()).hexdigest()


def normalise_phone(raw: str, field: str = "phone") -> str:
    """Indonesian phone number in +62 form: 0812-3456-7890, 62812..., +62 812... -> +62812...
    Mobile and landline numbers are accepted (8 to 12 digits after the country code)."""
    value = _PHONE_PUNCTUATION.sub("", raw.strip())
    if value.startswith("+"):
        if not value.startswith("+62"):
            raise FieldError(field, "only Indonesian numbers (+62) are accepted")
        national = value[3:]
    elif value.startswith("62"):
        national = value[2:]
    elif value.startswith("0"):
        national = value[1:]
    else:
        national = value
    if not national.isascii() or not national.isdigit():
        raise FieldError(field, "a phone number has only digits (and +, spaces, dashes)")
    if national.startswith("0") or not (8 <= len(national) <= 12):
        raise FieldError(field, "not an Indonesian phone number (e.g. 0812-3456-7890)")
    return "+62" + national


# Masking bound: nothing a key without registry:pii sees may narrow a NIK, phone, email,
# address or account number to fewer than 10,000 candidates (10**4: four digits kept hidden
# beyond what the rest of the answer tells). The answer also shows the kecamatan, the sex and
# the birth year (never the birth date), which fix NIK digits 1-6 and 11-12 and, with the sex,
# the range of digits 7-8: what stays unknown is the day and month (~365) and the serial.
HIDDEN_DIGITS = 4


def mask_nik(nik: str) -> str:
    """6471015001900001 -> **************01: the last two digits only (the day, month and
    first two serial digits stay unknown: ~36,500 candidates with the kecamatan and birth year)."""
    return "*" * (len(nik) - 2) + nik[-2:]


def _reveal_tail(digits: str, at_most: int) -> int:
    """How many trailing digits may show while HIDDEN_DIGITS stay hidden."""
    return max(0, min(at_most, len(digits) - HIDDEN_DIGITS))


def mask_phone(phone: str) -> str:
    """+6281234567890 -> +62*********90: the country code and at most two last digits."""
    national = phone[3:] if phone.startswith("+62") else phone
    keep = _reveal_tail(national, 2)
    return "+62" + "*" * (len(national) - keep) + (national[-keep:] if keep else "")


def mask_email(email: str) -> str:
    """siti@example.org -> ***@***: the name is shown elsewhere, so even a first letter and the
    domain would leave a handful of likely addresses."""
    return "***@***" if "@" in email else "***"


def mask_account(number: str) -> str:
    """0012345678 -> ******5678: at most the last four digits, always four hidden."""
    keep = _reveal_tail(number, 4)
    return "*" * (len(number) - keep) + (number[-keep:] if keep else "")


def mask_text(_value: str) -> str:
    return "***"


def mask_name(name: str) -> str:
    return name[:1] + "***"
