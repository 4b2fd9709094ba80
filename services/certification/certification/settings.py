from typing import Any

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class CertificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_CERTIFICATION_", extra="ignore", populate_by_name=True)

    service_name: str = "certification"
    http_port: int = 8002

    catalogue_version: str = Field("v1", description="Skill catalogue shipped as certification/data/skills-<v>.json")
    level_policy: dict[str, Any] | None = Field(
        None, description="Level rules as JSON (see data/levels-v1.json); empty uses the packaged default"
    )
    certificate_validity_years: int = Field(3, ge=1, le=20)
    expiry_notice_days: int = Field(30, ge=0, le=365, description="CertificateExpiring this many days ahead")
    expiry_sweep_interval_s: float = Field(3600.0, gt=0, description="How often the expiry scheduler runs")
    issuer: str = "Dinas Kesehatan Kota Balikpapan"
    region_code: str = Field("6471", description="Region part of certificate numbers (Kemendagri code, no dots)")
    public_base_url: str = Field("http://127.0.0.1:8002", description="Base of the public verification URL (QR)")
