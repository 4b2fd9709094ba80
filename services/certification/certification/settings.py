from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class CertificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_CERTIFICATION_", extra="ignore", populate_by_name=True)

    service_name: str = "certification"
    http_port: int = 8002
