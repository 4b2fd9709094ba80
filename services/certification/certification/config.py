"""What the handlers need from the settings, loaded once at wiring (app.py): the catalogue,
the level policy and the certificate parameters. Routes take it as `ConfigDep`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends

from certification.domain.catalogue import Catalogue, load_catalogue
from certification.domain.levels import LevelPolicy, load_level_policy
from certification.settings import CertificationSettings
from sikader_shared.deps import get_config


@dataclass(frozen=True)
class CertificationConfig:
    catalogue: Catalogue
    policy: LevelPolicy
    validity_years: int = 3
    notice_days: int = 30
    issuer: str = "Dinas Kesehatan Kota Balikpapan"
    region_code: str = "6471"
    public_base_url: str = "http://127.0.0.1:8002"

    @classmethod
    def from_settings(cls, settings: CertificationSettings) -> CertificationConfig:
        catalogue = load_catalogue(settings.catalogue_version)
        policy = load_level_policy(settings.level_policy)
        policy.check_against(catalogue)
        return cls(
            catalogue=catalogue,
            policy=policy,
            validity_years=settings.certificate_validity_years,
            notice_days=settings.expiry_notice_days,
            issuer=settings.issuer,
            region_code=settings.region_code,
            public_base_url=settings.public_base_url.rstrip("/"),
        )

    def verify_url(self, number: str, check_code: str | None = None) -> str:
        # Slashes stay readable in the path; anything else unusual is escaped.
        url = f"{self.public_base_url}/certificates/{quote(number, safe='/')}/verify"
        return f"{url}?code={check_code}" if check_code else url


ConfigDep = Annotated[CertificationConfig, Depends(get_config)]
