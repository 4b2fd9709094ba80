"""The console's browser libraries are vendored from npm (services/console/assets/: package.json,
package-lock.json, vendor.py, vendored.json): the committed copies are the pinned versions, byte
for byte. Needs no Node; when `make console-assets` has installed node_modules/, the copies are
also compared with the installed packages' files."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "services" / "console" / "assets"
EXACT = re.compile(r"^\d+\.\d+\.\d+$")


def _vendor() -> ModuleType:
    spec = importlib.util.spec_from_file_location("console_assets_vendor", ASSETS / "vendor.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _json(name: str) -> dict:  # type: ignore[type-arg]
    data = json.loads((ASSETS / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_pins_are_exact_and_the_lockfile_agrees() -> None:
    package = _json("package.json")
    assert package["dependencies"] == {"leaflet": "1.9.4"}
    assert package["devDependencies"] == {"axe-core": "4.14.1"}  # only the browser tests use it
    lock = _json("package-lock.json")["packages"]
    for name, version in {**package["dependencies"], **package["devDependencies"]}.items():
        assert EXACT.match(version), f"{name}: {version} is a range; pin an exact version"
        assert lock[f"node_modules/{name}"]["version"] == version
        assert lock[f"node_modules/{name}"]["integrity"].startswith("sha512-")


def test_manifest_matches_the_pins_and_every_vendored_file() -> None:
    package = _json("package.json")
    pins = {**package["dependencies"], **package["devDependencies"]}
    lock = _json("package-lock.json")["packages"]
    record = _json("vendored.json")["packages"]
    assert set(record) == set(pins)
    for name, entry in record.items():
        assert entry["version"] == pins[name] == lock[f"node_modules/{name}"]["version"], name
        assert entry["integrity"] == lock[f"node_modules/{name}"]["integrity"], name
        assert entry["files"], name
        for target, info in entry["files"].items():
            path = ROOT / target
            assert path.is_file(), f"{target} missing: run `make console-assets`"
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            assert digest == info["sha256"], f"{target} is not {name} {entry['version']}: run `make console-assets`"


def test_the_files_the_console_and_the_browser_tests_load_are_vendored() -> None:
    listed = {target for entry in _json("vendored.json")["packages"].values() for target in entry["files"]}
    leaflet = "services/console/console/static/vendor/leaflet"
    for needed in (
        f"{leaflet}/leaflet.js",
        f"{leaflet}/leaflet.css",
        f"{leaflet}/images/marker-icon.png",
        f"{leaflet}/images/layers.png",
        "tests/browser/vendor/axe.min.js",
    ):
        assert needed in listed, needed
    # leaflet.css refers to its images relatively: each one it names is vendored beside it
    css = (ROOT / leaflet / "leaflet.css").read_text(encoding="utf-8")
    for image in set(re.findall(r"url\(([^)]+\.png)\)", css)):
        assert f"{leaflet}/{image.strip(chr(34) + chr(39))}" in listed, image


def test_vendored_files_equal_the_installed_packages_when_node_modules_is_there() -> None:
    """Without node_modules/ (a plain `make test`) the manifest checks above stand alone;
    after `make console-assets` every copy is compared with its package's file too."""
    vendor = _vendor()
    assert vendor.problems() == []
