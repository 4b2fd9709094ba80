"""Copy the console's browser libraries from the pinned npm packages into the repository and
record what was copied (`vendored.json`: per package its version and the tarball's integrity
from package-lock.json, and the sha256 of each copied file).

`make console-assets` runs `npm ci --ignore-scripts` here and then this script. Only that needs
Node: the console serves the committed copies, and tests/console/test_vendored_assets.py checks
them against vendored.json (and against node_modules/ when it is there) without npm.

Usage: vendor.py            copy and write vendored.json
       vendor.py --check    exit 1 if a vendored file differs from the manifest or the package"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
LOCKFILE = HERE / "package-lock.json"
PACKAGE_JSON = HERE / "package.json"
MANIFEST = HERE / "vendored.json"


@dataclass(frozen=True)
class Copy:
    package: str
    source: str  # inside node_modules/<package>/; a trailing "/*" copies every file of a folder
    target: str  # a folder relative to the repository root


COPIES = (
    Copy("leaflet", "dist/leaflet.js", "services/console/console/static/vendor/leaflet"),
    Copy("leaflet", "dist/leaflet.css", "services/console/console/static/vendor/leaflet"),
    Copy("leaflet", "dist/images/*", "services/console/console/static/vendor/leaflet/images"),
    Copy("leaflet", "LICENSE", "services/console/console/static/vendor/leaflet"),
    # the browser tests inject it into each page (tests/browser/support.py: assert_accessible)
    Copy("axe-core", "axe.min.js", "tests/browser/vendor"),
    Copy("axe-core", "LICENSE", "tests/browser/vendor"),
)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_dir(package: str) -> Path:
    return HERE / "node_modules" / package


def locked(package: str) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(LOCKFILE.read_text(encoding="utf-8"))["packages"][f"node_modules/{package}"]
    return entry


def pinned(package: str) -> str:
    """The exact version package.json asks for (dependencies or devDependencies)."""
    data = json.loads(PACKAGE_JSON.read_text(encoding="utf-8"))
    spec = {**data.get("devDependencies", {}), **data.get("dependencies", {})}[package]
    return str(spec)


def planned_files(package_dir: Path) -> list[tuple[Copy, Path, str]]:
    """(copy, source file, target path relative to the root) for every file to vendor."""
    out = []
    for copy in COPIES:
        base = package_dir / copy.package
        if copy.source.endswith("/*"):
            sources = sorted(p for p in (base / copy.source[:-2]).iterdir() if p.is_file())
        else:
            sources = [base / copy.source]
        out.extend((copy, src, f"{copy.target}/{src.name}") for src in sources)
    return out


def vendor() -> int:
    packages = sorted({c.package for c in COPIES})
    for package in packages:
        if not installed_dir(package).is_dir():
            print(f"{installed_dir(package)} is missing: run `npm ci --ignore-scripts` first", file=sys.stderr)
            return 1
        version = json.loads((installed_dir(package) / "package.json").read_text(encoding="utf-8"))["version"]
        if not version == locked(package)["version"] == pinned(package):
            print(
                f"{package}: installed {version}, package-lock.json {locked(package)['version']}, "
                f"package.json {pinned(package)}: run `npm ci` after fixing the pin",
                file=sys.stderr,
            )
            return 1
    record: dict[str, Any] = {
        p: {"version": locked(p)["version"], "integrity": locked(p)["integrity"], "files": {}} for p in packages
    }
    for copy, src, target in planned_files(HERE / "node_modules"):
        dest = ROOT / target
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
        record[copy.package]["files"][target] = {
            "from": str(src.relative_to(installed_dir(copy.package))),
            "sha256": sha256(dest),
        }
    MANIFEST.write_text(json.dumps({"packages": record}, indent=2) + "\n", encoding="utf-8")
    for package in packages:
        print(f"vendored {package}@{record[package]['version']}: {len(record[package]['files'])} files")
    return 0


def problems() -> list[str]:
    """What disagrees: the manifest against package.json and the lockfile, each vendored file
    against its recorded sha256, and (when node_modules/ is installed) against the package."""
    found: list[str] = []
    record = json.loads(MANIFEST.read_text(encoding="utf-8"))["packages"]
    for package, entry in record.items():
        lock = locked(package)
        if not entry["version"] == lock["version"] == pinned(package):
            found.append(
                f"{package}: vendored {entry['version']}, package-lock.json {lock['version']}, "
                f"package.json {pinned(package)}"
            )
        if entry["integrity"] != lock["integrity"]:
            found.append(f"{package}: the vendored tarball integrity is not package-lock.json's")
        installed = installed_dir(package)
        for target, info in entry["files"].items():
            path = ROOT / target
            if not path.is_file():
                found.append(f"{target}: missing")
                continue
            if sha256(path) != info["sha256"]:
                found.append(f"{target}: sha256 differs from vendored.json")
            source = installed / info["from"]
            if installed.is_dir() and (not source.is_file() or source.read_bytes() != path.read_bytes()):
                found.append(f"{target}: differs from node_modules/{package}/{info['from']}")
    expected = {target for _, _, target in planned_files(HERE / "node_modules")} if _all_installed() else None
    listed = {target for entry in record.values() for target in entry["files"]}
    if expected is not None and expected != listed:
        found.append(f"vendored.json lists {sorted(listed ^ expected)} differently from the packages' files")
    return found


def _all_installed() -> bool:
    return all(installed_dir(c.package).is_dir() for c in COPIES)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only compare; change nothing")
    args = parser.parse_args()
    if not args.check:
        return vendor()
    found = problems()
    for line in found:
        print(line, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
