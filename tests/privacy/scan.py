"""Finding personal data in text: the values a run is known to have sent (in the forms they
are likely to take: a phone with 08, 62 or +62 and any separators, an email URL-encoded or in
capitals, a NIK inside a longer string) and patterns that catch values nobody listed."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

# Digits separated by a space, dot or dash ("0812-5555-0101", "0812 5555 0101") are read as one run.
_SEPARATED_DIGITS = re.compile(r"(?<=\d)[ .\-](?=\d)")
_DIGIT_RUN = re.compile(r"\d{5,}")

# Unknown values: what a NIK, an email address, an Indonesian mobile number or a street address
# look like. Masked forms ("6471********0001", "+62812****890", "s***@x") do not match.
NIK_PATTERN = re.compile(r"(?<![\d.])\d{16}(?!\d)")  # not the decimals of a float
EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE_PATTERN = re.compile(r"(?<![\w+*.])(?:\+62|62|0)[ -]?8\d{1,3}(?:[ -]?\d){5,9}(?![\w*])")
ADDRESS_PATTERN = re.compile(r"\b(?:Jl|Jln|Jalan|Gg|Gang)\.?\s+[A-Z0-9]", re.IGNORECASE)
# Ids and hashes are not personal data, and their hex digits can look like a phone number
# ("...-0816-4302-...") or a NIK (16 decimal digits in a row inside a SHA-256).
_HEX_IDS = re.compile(r"\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32,})\b", re.I)
PATTERNS = {"nik": NIK_PATTERN, "email": EMAIL_PATTERN, "phone": PHONE_PATTERN, "address": ADDRESS_PATTERN}


def national_number(phone: str) -> str:
    """The digits after the country or trunk prefix: +62 812-5555-0101 -> 81255550101."""
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("62"):
        return digits[2:]
    return digits[1:] if digits.startswith("0") else digits


@dataclass(frozen=True)
class Value:
    kind: str  # nik | phone | email | address | account_number | account_holder | api_key
    value: str
    owner: str  # whose it is: a cadre id, "posyandu:<id>", "intruder" (the malformed events)


@dataclass
class Hit:
    where: str
    value: Value
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.value.kind} of {self.value.owner} in ...{self.excerpt}..."


@dataclass
class KnownValues:
    """Every sensitive value of the run, indexed for fast search over many texts."""

    values: set[Value] = field(default_factory=set)
    _digits: dict[str, set[Value]] = field(default_factory=dict)
    _texts: dict[str, dict[str, set[Value]]] = field(default_factory=dict)  # prefix -> lower-case needle -> values

    def add(self, kind: str, value: str | None, owner: str) -> None:
        if not value or not value.strip():
            return
        v = Value(kind, value.strip(), owner)
        self.values.add(v)
        for needle in self._needles(v):
            if needle.isdigit():
                self._digits.setdefault(needle, set()).add(v)
            else:  # grouped by the first characters: most texts contain none of the prefixes
                self._texts.setdefault(needle[:4], {}).setdefault(needle, set()).add(v)

    @staticmethod
    def _needles(v: Value) -> list[str]:
        if v.kind == "phone" or (v.kind == "account_number" and v.value.startswith(("0", "+62", "62"))):
            out = [national_number(v.value)]
            return out + ([re.sub(r"\D", "", v.value)] if v.kind == "account_number" else [])
        if v.kind in ("nik", "account_number"):
            return [re.sub(r"\D", "", v.value)]
        if v.kind == "address":
            full = v.value.lower()
            street = full.split(",")[0].strip()  # "Jl. Mulawarman RT 012" without the kelurahan
            return [full] + ([street] if len(street) >= 8 else [])
        return [v.value.lower()]

    def of_kind(self, *kinds: str) -> set[Value]:
        return {v for v in self.values if v.kind in kinds}

    def find(self, text: str, where: str) -> list[Hit]:
        hits: list[Hit] = []
        low = text.lower()
        decoded = unquote(low) if "%" in low else low
        forms = {low, decoded, _SEPARATED_DIGITS.sub("", low), _SEPARATED_DIGITS.sub("", decoded)}
        lengths = {len(n) for n in self._digits}
        seen: set[Value] = set()
        for form in forms:
            for match in _DIGIT_RUN.finditer(form):
                run = match.group()
                for n in lengths:
                    for i in range(len(run) - n + 1):
                        for v in self._digits.get(run[i : i + n], ()):
                            if v not in seen:
                                seen.add(v)
                                hits.append(Hit(where, v, _around(form, match.start() + i, n)))
            for prefix, group in self._texts.items():
                if prefix not in form:
                    continue
                for needle, vs in group.items():
                    if needle in form:
                        for v in vs - seen:
                            seen.add(v)
                            hits.append(Hit(where, v, _around(form, form.index(needle), len(needle))))
        return hits


def pattern_hits(text: str, where: str, ignore: Iterable[str] = ()) -> list[str]:
    """Matches of the NIK / email / phone / address patterns, except the `ignore`d strings."""
    skip = {s.lower() for s in ignore}
    text = _HEX_IDS.sub("<id>", text)
    out = []
    for kind, pattern in PATTERNS.items():
        for m in pattern.finditer(text):
            if m.group().lower() not in skip:
                out.append(f"{where}: looks like a {kind}: ...{_around(text, m.start(), len(m.group()))}...")
    return out


def _around(text: str, start: int, length: int, margin: int = 60) -> str:
    return text[max(0, start - margin) : start + length + margin].replace("\n", " ")
