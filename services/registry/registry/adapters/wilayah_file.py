"""Reading the wilayah data file: one shipped in registry/data/wilayah, or another path."""

from __future__ import annotations

import json
from pathlib import Path

from registry.domain.wilayah import Wilayah, WilayahError, parse_wilayah

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "wilayah"


def load_wilayah(name_or_path: str) -> Wilayah:
    """`6471.json` (a file shipped in registry/data/wilayah) or a path to another file."""
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = DATA_DIR / name_or_path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise WilayahError(f"cannot read wilayah data file {path}: {exc}") from exc
    return parse_wilayah(data)
