"""Upload a cadre or Posyandu CSV file to the registry in chunks, with a progress bar on
stderr and the combined report (line numbers of the original file) as JSON on stdout.

    python -m registry.entrypoints.import_cli cadres FILE --url http://127.0.0.1:8001 --key sk_...

The whole file is checked to be well-formed CSV before anything is sent. Each chunk carries
an Idempotency-Key derived from the file and the chunk, so a re-run after an interruption
registers nothing twice (and the server keys cadres by NIK anyway)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import httpx

PATHS = {"cadres": "/cadres/import", "posyandu": "/posyandu/import"}


class UploadError(RuntimeError):
    pass


@dataclass
class Chunk:
    body: bytes
    rows: int
    lines: dict[int, int]  # line in the chunk -> line in the original file


def split_csv(raw: bytes, chunk_rows: int) -> list[Chunk]:
    """Cut the file into chunks of whole records, each with the header row."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"the file is not UTF-8 text (byte {exc.start})") from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None:
            raise UploadError("the file is empty")
        records = []
        for values in reader:
            if values and any(v.strip() for v in values):
                records.append((reader.line_num, values))
    except csv.Error as exc:
        raise UploadError(f"not a well-formed CSV file (line {reader.line_num}): {exc}") from exc
    row_buffer = io.StringIO(newline="")
    row_writer = csv.writer(row_buffer, delimiter=delimiter, lineterminator="\n")

    def render(values: list[str]) -> str:
        row_buffer.seek(0)
        row_buffer.truncate()
        row_writer.writerow(values)
        return row_buffer.getvalue()

    head = render(header)
    chunks = []
    for start in range(0, max(len(records), 1), chunk_rows):
        parts = [head]
        line = head.count("\n")
        lines: dict[int, int] = {}
        for original_line, values in records[start : start + chunk_rows]:
            text = render(values)
            parts.append(text)
            line += text.count("\n")
            lines[line] = original_line  # the server reports the line a record ends on
        chunks.append(Chunk("".join(parts).encode("utf-8"), len(parts) - 1, lines))
    return chunks


def progress_bar(stream: TextIO, total: int) -> Callable[[int], None]:
    started = time.monotonic()

    def show(done: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        rate = done / max(time.monotonic() - started, 1e-6)
        stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{total} rows  {rate:,.0f} rows/s")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


async def upload(
    client: httpx.AsyncClient,
    kind: str,
    raw: bytes,
    chunk_rows: int = 5000,
    on_progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Send the file chunk by chunk; returns the combined import report."""
    chunks = split_csv(raw, chunk_rows)
    digest = hashlib.sha256(raw).hexdigest()[:32]
    id_key = "cadre_id" if kind == "cadres" else "posyandu_id"
    total: dict[str, Any] = {
        "rows": 0,
        "registered": 0,
        "already_registered": 0,
        "rejected": 0,
        "registered_ids": [],
        "existing": [],
        "errors": [],
    }
    done = 0
    for index, chunk in enumerate(chunks):
        response = await client.post(
            PATHS[kind],
            content=chunk.body,
            headers={"Content-Type": "text/csv", "Idempotency-Key": f"import-{kind}-{digest}-{index}"},
            timeout=300,
        )
        if response.status_code >= 400:
            raise UploadError(f"chunk {index + 1}/{len(chunks)} refused ({response.status_code}): {response.text}")
        report = response.json()
        for name in ("rows", "registered", "already_registered", "rejected"):
            total[name] += report[name]
        for group in ("registered_ids", "existing", "errors"):
            for item in report[group]:
                total[group].append({**item, "line": chunk.lines.get(item["line"], item["line"])})
        done += chunk.rows
        if on_progress is not None:
            on_progress(done)
    total["ids_key"] = id_key
    return total


async def _main(args: argparse.Namespace) -> int:
    with open(args.file, "rb") as f:
        raw = f.read()
    rows = sum(c.rows for c in split_csv(raw, args.chunk_rows))
    bar = progress_bar(sys.stderr, rows) if not args.quiet else None
    headers = {"Authorization": f"Bearer {args.key}"}
    async with httpx.AsyncClient(base_url=args.url, headers=headers) as client:
        report = await upload(client, args.kind, raw, args.chunk_rows, bar)
    if not args.ids:
        report.pop("registered_ids")
        report.pop("existing")
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if report["rejected"] == 0 else 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m registry.entrypoints.import_cli", description=__doc__)
    parser.add_argument("kind", choices=sorted(PATHS))
    parser.add_argument("file")
    parser.add_argument("--url", default=os.environ.get("SIKADER_REGISTRY_URL", "http://127.0.0.1:8001"))
    parser.add_argument("--key", default=os.environ.get("SIKADER_API_KEY"), help="API key with registry:write")
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--ids", action="store_true", help="list the ids of registered and existing rows")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.key:
        parser.error("--key (or SIKADER_API_KEY) is required")
    try:
        code = asyncio.run(_main(args))
    except UploadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)


if __name__ == "__main__":
    main()
