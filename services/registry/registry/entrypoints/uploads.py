"""The CSV uploads of the bulk import routes: the media type and size checks, the parse
(off the event loop), and the request body the OpenAPI documents."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import Request

from registry.config import RegistryConfig
from registry.domain.csvfiles import CsvFileError, Parsed
from sikader_shared.errors import Invalid, ServiceError

CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")

CADRE_CSV_EXAMPLE = (
    "nik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,roles,payment_method,bank,account_number\n"
    "6471015508900001,Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,Melati,posyandu_cadre;pkk,"
    "bank,BPD_KALTIMTARA,0012345678\n"
)
POSYANDU_CSV_EXAMPLE = (
    "name,kelurahan_code,posyandu_type,rt,sk_number,sk_date,facility_status,equipment,assessed_by,assessed_on\n"
    "Posyandu Melati,64.71.06.1002,balita,012,188.4/12/KLI/2024,2024-07-01,resident_house,dacin;kia_book,"
    "Puskesmas Klandasan Ilir,2026-11-02\n"
)


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


def csv_body(example: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    """`openapi_extra` of an import route: the CSV request body and its columns."""
    description = (
        "CSV (UTF-8, comma or semicolon separated) with a header row. Required columns: "
        + ", ".join(required)
        + ". Optional: "
        + ", ".join(optional)
        + ". Dates as YYYY-MM-DD; lists (roles, equipment) separated by ';' or '|'."
    )
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        }
    }


async def read_csv(request: Request, cfg: RegistryConfig) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType(
            f"send the file as text/csv (got {content_type or 'no content type'})", accepted=list(CSV_TYPES)
        )
    raw = await request.body()
    if len(raw) > cfg.import_max_bytes:
        raise PayloadTooLarge(f"the file is larger than {cfg.import_max_bytes} bytes: split it")
    return raw


async def parse_csv(parse: Callable[[bytes, int], Parsed], raw: bytes, cfg: RegistryConfig) -> Parsed:
    try:
        # Parsing is CPU work: keep the event loop answering other requests meanwhile.
        return await asyncio.to_thread(parse, raw, cfg.import_max_rows)
    except CsvFileError as exc:
        raise Invalid(exc.reason, **exc.details) from exc
