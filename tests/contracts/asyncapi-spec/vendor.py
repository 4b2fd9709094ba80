"""Copy the AsyncAPI 3.0 JSON Schema from the pinned npm package into this directory and record
what it was copied from (`vendored.json`: version, the tarball's integrity from package-lock.json,
and the sha256 of each copied file). `make asyncapi-spec` runs `npm ci` here and then this.

The tests read only the copies and `vendored.json`: neither npm nor the network at run time."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGE = "@asyncapi/specs"
FILES = ("schemas/3.0.0.json",)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    installed = HERE / "node_modules" / PACKAGE
    if not installed.is_dir():
        print(f"{installed} is missing: run `npm ci` in {HERE} first (make asyncapi-spec)", file=sys.stderr)
        return 1
    lock = json.loads((HERE / "package-lock.json").read_text(encoding="utf-8"))["packages"][f"node_modules/{PACKAGE}"]
    version = json.loads((installed / "package.json").read_text(encoding="utf-8"))["version"]
    if version != lock["version"]:
        print(f"installed {version} but package-lock.json pins {lock['version']}", file=sys.stderr)
        return 1
    for name in FILES:
        (HERE / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(installed / name, HERE / name)
    record = {
        "package": PACKAGE,
        "version": version,
        "integrity": lock["integrity"],
        "files": {name: sha256(HERE / name) for name in FILES},
    }
    (HERE / "vendored.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"vendored {PACKAGE}@{version}: {', '.join(FILES)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
