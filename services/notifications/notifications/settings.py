from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_NOTIFICATIONS_", extra="ignore", populate_by_name=True)

    service_name: str = "notifications"
    http_port: int = 8004
