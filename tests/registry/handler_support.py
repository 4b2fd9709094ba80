"""Shared pieces of the registry's handler tests: a config with both field keys, actors,
commands, and a NIK that agrees with a birth date and sex."""

from __future__ import annotations

from datetime import date
from typing import Any

from registry.config import RegistryConfig
from registry.domain.commands import CadreCreate, PosyanduCreate
from registry.settings import RegistrySettings
from sikader_shared.crypto import new_key
from sikader_shared.uow import Actor

KLANDASAN_ILIR = "64.71.06.1002"
WRITER = Actor(client_id="dinsos", key_id="k1", scopes=frozenset({"registry:read", "registry:write"}))
VERIFIER = Actor(client_id="dinkes", key_id="k2", scopes=frozenset({"posyandu:verify"}))
PII = Actor(client_id="ops", key_id="k3", scopes=frozenset({"registry:write", "registry:pii"}))


def config(**settings: Any) -> RegistryConfig:
    values: dict[str, Any] = {"contact_key": new_key(), "payment_key": new_key(), **settings}
    return RegistryConfig.from_settings(RegistrySettings(**values))


def make_nik(birth: date, sex: str, serial: int = 1, region: str = "647106") -> str:
    day = birth.day + (40 if sex == "F" else 0)
    return f"{region}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def posyandu_cmd(name: str = "Posyandu Melati", **extra: Any) -> PosyanduCreate:
    return PosyanduCreate.model_validate(
        {"name": name, "kelurahan_code": KLANDASAN_ILIR, "posyandu_type": "balita", **extra}
    )


def cadre_cmd(serial: int = 1, **extra: Any) -> CadreCreate:
    birth = date(1990, 8, 15)
    return CadreCreate.model_validate(
        {
            "nik": make_nik(birth, "F", serial),
            "name": "Siti Aminah",
            "sex": "F",
            "birth_date": birth.isoformat(),
            "kelurahan_code": KLANDASAN_ILIR,
            **extra,
        }
    )
