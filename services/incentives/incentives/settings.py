"""What an operator sets for the incentives service (SIKADER_INCENTIVES_*)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from sikader_shared.settings import ServiceSettings


class IncentivesSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_INCENTIVES_", extra="ignore", populate_by_name=True)

    service_name: str = "incentives"
    http_port: int = 8003
    # Approved periods looked back on at each calculation for corrections (late facts).
    correction_lookback_periods: int = 3
    # Input events are applied a batch per transaction: larger batches spread the fixed cost
    # of a transaction (a dozen statements) over more events, at the cost of memory.
    consumer_max_records: int = 2000
    # With nothing to read, FastStream's batch loop waits this long for records and then
    # sleeps as long again before the next fetch: an event arriving meanwhile waits up to
    # twice this. Busy, it changes nothing: records are taken as they are.
    consumer_batch_timeout_ms: int = 10
    # Staged inputs (a recompute after a new policy) applied per projector transaction, and
    # the projector's idle pause.
    projector_batch: int = 2000
    projector_idle_s: float = 0.1
    # The fairness report flags a kelurahan whose amount per active cadre is below this
    # fraction of the city's median kelurahan.
    fairness_flag_ratio: float = Field(0.8, gt=0, le=10)
