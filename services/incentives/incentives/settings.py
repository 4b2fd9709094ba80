from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class IncentivesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_INCENTIVES_", extra="ignore", populate_by_name=True)

    service_name: str = "incentives"
    http_port: int = 8003
    # Approved periods looked back on at each calculation for corrections (late facts).
    correction_lookback_periods: int = 3
    # Staged input events applied per projector transaction, and its idle pause.
    projector_batch: int = 2000
    projector_idle_s: float = 0.1
