"""Files for download: CSV (UTF-8 with BOM, so spreadsheets read the names right) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from console.domain.mapping import csv_safe


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[csv_safe(v) for v in row] for row in rows])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(sheets: Sequence[tuple[str, Sequence[str], Sequence[Sequence[Any]]]]) -> bytes:
    """One worksheet per (title, header, rows)."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, header, rows in sheets:
        sheet = book.create_sheet(title[:31])
        sheet.append(list(header))
        for row in rows:
            sheet.append([csv_safe(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
