from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class IncentivesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_INCENTIVES_", extra="ignore", populate_by_name=True)

    service_name: str = "incentives"
    http_port: int = 8003
