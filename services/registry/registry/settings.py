from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_REGISTRY_", extra="ignore", populate_by_name=True)

    service_name: str = "registry"
    http_port: int = 8001
