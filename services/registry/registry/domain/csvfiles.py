"""Reading the bulk-import CSV files: the documented columns, and the mapping of one row to
the same command an API call would send. A file that is not a CSV of those columns is
refused whole; a bad row is reported with its line number, field and reason."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from registry.domain.commands import AssessmentCreate, CadreCreate, PosyanduCreate

CADRE_REQUIRED = ("nik", "name", "sex", "birth_date")
CADRE_OPTIONAL = (
    "phone",
    "email",
    "address",
    "roles",
    "kelurahan_code",
    "posyandu_id",
    "posyandu_name",
    "posyandu_role",
    "joined_on",
    "payment_method",
    "bank",
    "account_number",
    "account_holder",
)
POSYANDU_REQUIRED = ("name", "kelurahan_code", "posyandu_type")
POSYANDU_OPTIONAL = (
    "address",
    "rt",
    "rw",
    "latitude",
    "longitude",
    "puskesmas",
    "sk_number",
    "sk_date",
    "lkk_registration_number",
    "lkk_registered_on",
    "facility_status",
    "equipment",
    "assessed_by",
    "assessed_on",
)
ASSESSMENT_COLUMNS = ("facility_status", "equipment", "assessed_by", "assessed_on")
_LIST_SEPARATOR = re.compile(r"[;|]")
_SEX = {"F": "F", "P": "F", "M": "M", "L": "M"}  # P = perempuan, L = laki-laki


class CsvFileError(ValueError):
    """The upload is not a CSV file of the documented columns."""

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


@dataclass
class RowError:
    line: int
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


@dataclass
class CadreLine:
    line: int
    command: CadreCreate
    posyandu_name: str | None = None


@dataclass
class PosyanduLine:
    line: int
    command: PosyanduCreate
    assessment: AssessmentCreate | None = None


@dataclass
class Parsed:
    rows: list[Any] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0


def read_table(
    raw: bytes, required: tuple[str, ...], optional: tuple[str, ...], max_rows: int
) -> list[tuple[int, dict[str, str]]]:
    """All data rows as (line number, {column: value}). Comma or semicolon separated (as
    Indonesian-locale spreadsheets export), UTF-8 with or without BOM, header row first."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError("the file is not UTF-8 text", byte_offset=exc.start) from exc
    if "\x00" in text:
        raise CsvFileError("the file is binary, not CSV text")
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise CsvFileError("the file is empty: a header row is expected", required=list(required))
        columns = [h.strip().lower() for h in header]
        missing = [c for c in required if c not in columns]
        unknown = [c for c in columns if c not in required and c not in optional]
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if missing or unknown or duplicated:
            raise CsvFileError(
                "the header does not match the documented columns",
                missing_columns=missing,
                unknown_columns=unknown,
                duplicated_columns=duplicated,
                required=list(required),
                optional=list(optional),
            )
        rows: list[tuple[int, dict[str, str]]] = []
        for values in reader:
            if not values or not any(v.strip() for v in values):
                continue  # blank lines (spreadsheets add them at the end)
            if len(rows) >= max_rows:
                raise CsvFileError(f"more than {max_rows} rows: split the file", max_rows=max_rows)
            line = reader.line_num
            if len(values) != len(columns):
                rows.append((line, {"__ragged__": f"expected {len(columns)} fields, found {len(values)}"}))
                continue
            rows.append((line, dict(zip(columns, values, strict=True))))
    except csv.Error as exc:
        raise CsvFileError(f"not a well-formed CSV file (line {reader.line_num}): {exc}") from exc
    return rows


def _blank_to_none(row: dict[str, str]) -> dict[str, str | None]:
    return {k: (v.strip() or None) for k, v in row.items()}


def _errors(line: int, exc: ValidationError) -> list[RowError]:
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "row"
        out.append(RowError(line, loc, str(e["msg"]).removeprefix("Value error, ")))
    return out


def _list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in _LIST_SEPARATOR.split(value) if v.strip()]


def parse_cadres(raw: bytes, max_rows: int) -> Parsed:
    out = Parsed()
    for line, row in read_table(raw, CADRE_REQUIRED, CADRE_OPTIONAL, max_rows):
        out.total += 1
        if "__ragged__" in row:
            out.errors.append(RowError(line, "row", row["__ragged__"]))
            continue
        r = _blank_to_none(row)
        sex = r.get("sex")
        payment: dict[str, Any] | None = None
        if any(r.get(c) for c in ("payment_method", "bank", "account_number", "account_holder")):
            payment = {
                "method": r.get("payment_method"),
                "bank": r.get("bank"),
                "account_number": r.get("account_number"),
                "account_holder": r.get("account_holder"),
            }
        data: dict[str, Any] = {
            "nik": r.get("nik"),
            "name": r.get("name"),
            "sex": _SEX.get((sex or "").upper(), sex),
            "birth_date": r.get("birth_date"),
            "phone": r.get("phone"),
            "email": r.get("email"),
            "address": r.get("address"),
            "kelurahan_code": r.get("kelurahan_code"),
            "posyandu_id": r.get("posyandu_id"),
            "posyandu_role": r.get("posyandu_role"),
            "joined_on": r.get("joined_on"),
            "payment": payment,
        }
        roles = _list(r.get("roles"))
        if roles is not None:
            data["roles"] = roles
        if r.get("posyandu_name") and not r.get("kelurahan_code") and not r.get("posyandu_id"):
            out.errors.append(RowError(line, "kelurahan_code", "posyandu_name needs the kelurahan_code it is in"))
            continue
        try:
            command = CadreCreate.model_validate(data)
        except ValidationError as exc:
            out.errors.extend(_errors(line, exc))
            continue
        out.rows.append(CadreLine(line, command, r.get("posyandu_name")))
    return out


def parse_posyandu(raw: bytes, max_rows: int) -> Parsed:
    out = Parsed()
    for line, row in read_table(raw, POSYANDU_REQUIRED, POSYANDU_OPTIONAL, max_rows):
        out.total += 1
        if "__ragged__" in row:
            out.errors.append(RowError(line, "row", row["__ragged__"]))
            continue
        r = _blank_to_none(row)
        institution = None
        if any(r.get(c) for c in ("sk_number", "sk_date", "lkk_registration_number", "lkk_registered_on")):
            institution = {
                c: r.get(c) for c in ("sk_number", "sk_date", "lkk_registration_number", "lkk_registered_on")
            }
        data = {
            "name": r.get("name"),
            "kelurahan_code": r.get("kelurahan_code"),
            "posyandu_type": r.get("posyandu_type"),
            "address": r.get("address"),
            "rt": r.get("rt"),
            "rw": r.get("rw"),
            "latitude": r.get("latitude"),
            "longitude": r.get("longitude"),
            "puskesmas": r.get("puskesmas"),
            "institution": institution,
        }
        errors: list[RowError] = []
        command = assessment = None
        try:
            command = PosyanduCreate.model_validate(data)
        except ValidationError as exc:
            errors.extend(_errors(line, exc))
        if any(r.get(c) for c in ASSESSMENT_COLUMNS):
            # equipment: the items available, e.g. "dacin;height_board;kia_book"
            items = _list(r.get("equipment")) or []
            try:
                assessment = AssessmentCreate.model_validate(
                    {
                        "facility_status": r.get("facility_status"),
                        "equipment": [{"item": i, "available": True} for i in items],
                        "assessed_by": r.get("assessed_by"),
                        "assessed_on": r.get("assessed_on"),
                    }
                )
            except ValidationError as exc:
                errors.extend(_errors(line, exc))
        if errors or command is None:
            out.errors.extend(errors)
            continue
        out.rows.append(PosyanduLine(line, command, assessment))
    return out
