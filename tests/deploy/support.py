"""Helpers for the deployment tests: the repository's compose files, .env.example, the
settings the services read, docker-compose on the command line."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
CLUSTER = ROOT / "deploy" / "compose.cluster.yml"
LOCAL = ROOT / "deploy" / "compose.local-images.yml"
ENV_EXAMPLE = ROOT / ".env.example"
TOPICS_JSON = ROOT / "deploy" / "kafka" / "topics.json"
SERVICES = ("registry", "certification", "incentives", "notifications")  # the broker's services
CONSOLE = "console"  # web pages over the services' APIs: no broker, its own database
APPS = (*SERVICES, CONSOLE)  # every image built from deploy/Dockerfile that serves HTTP
ONE_SHOT = {"topics"}  # jobs: run once, exit 0; everything else is long-running

# The values docker compose refuses to start without (`${VAR:?...}` in docker-compose.yml).
REQUIRED_SECRETS = (
    "POSTGRES_PASSWORD",
    "SIKADER_REGISTRY_DB_PASSWORD",
    "SIKADER_CERTIFICATION_DB_PASSWORD",
    "SIKADER_INCENTIVES_DB_PASSWORD",
    "SIKADER_NOTIFICATIONS_DB_PASSWORD",
    "SIKADER_CONSOLE_DB_PASSWORD",
    "SIKADER_CONSOLE_SESSION_KEY",
    "SIKADER_CONTACT_KEY",
    "SIKADER_PAYMENT_KEY",
    "SIKADER_REGISTRY_NIK_PEPPER",
)

_YAML_TO_JSON = "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)"


@cache
def load_yaml(path: Path) -> dict[str, Any]:
    """A compose file as Python data (YAML anchors and `<<` merge keys resolved). Uses PyYAML
    when installed; else a system python3 that has it (Debian's docker-compose brings it)."""
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        yaml = None
    if yaml is not None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict)
        return data
    for exe in ("/usr/bin/python3", shutil.which("python3")):
        if not exe or not Path(exe).exists():
            continue
        proc = subprocess.run([exe, "-c", _YAML_TO_JSON, str(path)], capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            data = json.loads(proc.stdout)
            assert isinstance(data, dict)
            return data
    pytest.skip("no YAML parser: install PyYAML (pyyaml in requirements-dev.txt)")


_ENV_LINE = re.compile(r"^(#\s?)?([A-Z][A-Z0-9_]*(?:<SERVICE>[A-Z0-9_]*)?)=(.*)$")


@cache
def env_example() -> dict[str, tuple[bool, str]]:
    """NAME -> (active, value) for every `NAME=value` and `# NAME=value` line of .env.example.
    `<SERVICE>` in a name is expanded to the four services."""
    out: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = _ENV_LINE.match(line.strip())
        if not m:
            continue
        active, name, value = m.group(1) is None, m.group(2), m.group(3)
        names = [name.replace("<SERVICE>", s.upper()) for s in SERVICES] if "<SERVICE>" in name else [name]
        for n in names:
            if n in out and out[n][0] and not active:
                continue
            out[n] = (active, value)
    return out


def settings_class(service: str) -> type:
    from sikader_shared.settings import ServiceSettings

    module = importlib.import_module(f"{service}.settings")
    classes = [
        c
        for c in vars(module).values()
        if isinstance(c, type) and issubclass(c, ServiceSettings) and c is not ServiceSettings
    ]
    assert len(classes) == 1, f"{service}.settings: expected one settings class, found {classes}"
    return classes[0]


# The console inherits the service settings, but reads only these of them (no broker, no
# outbox, no consumer): the rest would be settings documented for nothing.
CONSOLE_INHERITED = ("http_host", "http_port", "database_url", "var_dir", "log_level", "log_json")


def settings_env(service: str) -> dict[str, Any]:
    """Environment variable -> default, for every setting the service reads."""
    from pydantic import AliasChoices

    from sikader_shared.settings import ServiceSettings

    cls = settings_class(service)
    prefix = cls.model_config.get("env_prefix", "")
    out: dict[str, Any] = {}
    for name, field in cls.model_fields.items():
        if name == "service_name":
            continue  # fixed per service, not a setting
        if service == CONSOLE and name in ServiceSettings.model_fields and name not in CONSOLE_INHERITED:
            continue
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            env = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
            assert env, f"{service}.{name}: no upper-case environment alias"
            names = env
        elif isinstance(alias, str):
            names = [alias.upper()]
        else:
            names = [f"{prefix}{name}".upper()]
        default = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
        for n in names:
            out[n] = default
    return out


def dockerfile_env() -> set[str]:
    """Variables the service image sets itself (ENV in deploy/Dockerfile)."""
    text = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    names: set[str] = set()
    for line in text.splitlines():
        if line.strip().startswith("ENV "):
            names.update(re.findall(r"([A-Z_][A-Z0-9_]*)=", line))
    return names


INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolations(path: Path) -> dict[str, list[tuple[str, str]]]:
    """VAR -> [(operator, default-or-message)] for every ${...} in a compose file."""
    out: dict[str, list[tuple[str, str]]] = {}
    text = path.read_text(encoding="utf-8").replace("$$", "")
    for m in INTERPOLATION.finditer(text):
        out.setdefault(m.group(1), []).append((m.group(2) or "", m.group(3) or ""))
    return out


def filled_env_file(path: Path, extra: dict[str, str] | None = None) -> Path:
    """.env.example with the required secrets filled in (test values), and `extra` set
    (replacing the example's line of the same name, active or commented)."""
    extra = dict(extra or {})
    lines = []
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        m = _ENV_LINE.match(line.strip())
        if m and m.group(2) in extra:
            line = f"{m.group(2)}={extra.pop(m.group(2))}"
        elif m and m.group(1) is None and m.group(2) in REQUIRED_SECRETS and not m.group(3):
            line = f"{m.group(2)}=test{m.group(2).lower().replace('_', '')}"
        lines.append(line)
    lines.extend(f"{k}={v}" for k, v in extra.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def compose_cli() -> list[str] | None:
    """docker-compose v1 (Debian) or the docker compose plugin, whichever exists."""
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without anything compose would interpolate from it."""
    drop = ("SIKADER_", "KAFKA_", "POSTGRES_", "COMPOSE_", "BASE_IMAGE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def make_nik(birth: date, sex: str, region: str = "647106", serial: int = 42) -> str:
    """A NIK that agrees with birth date and sex (women: day + 40), issued in Balikpapan
    (as `make_nik` in tests/registry/conftest.py)."""
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"
