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


def mask_nik(nik: str) -> str:
    """6471015001900001 -> 6471********0001 (region and serial stay readable)."""
    return nik[:4] + "*" * 8 + nik[-4:]


def mask_phone(phone: str) -> str:
    """+6281234567890 -> +62812****890."""
    return phone[:6] + "****" + phone[-3:]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def mask_account(number: str) -> str:
    return "*" * max(len(number) - 4, 4) + number[-4:]


def mask_text(_value: str) -> str:
    return "***"


def mask_name(name: str) -> str:
    return name[:1] + "***"
