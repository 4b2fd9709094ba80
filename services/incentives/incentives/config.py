"""What the handlers, routes and jobs need besides the unit of work, loaded once from the
settings: the payment cipher (bank details arrive encrypted on the private topic) and the
calculation's and projector's numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from incentives.settings import IncentivesSettings
from sikader_shared.crypto import FieldCipher, load_cipher
from sikader_shared.deps import get_config


@dataclass(frozen=True)
class IncentivesConfig:
    # None when SIKADER_PAYMENT_KEY is not set: payment files and payment details are refused.
    payment_cipher: FieldCipher | None
    # Approved periods looked back on at each calculation for corrections (late facts).
    correction_lookback_periods: int = 3
    projector_batch: int = 2000
    projector_idle_s: float = 0.1
    # A kelurahan below this ratio of the city's median amount per cadre is flagged.
    fairness_flag_ratio: float = 0.8

    @classmethod
    def from_settings(cls, settings: IncentivesSettings) -> IncentivesConfig:
        return cls(
            payment_cipher=load_cipher("payment", settings.payment_key),
            correction_lookback_periods=settings.correction_lookback_periods,
            projector_batch=settings.projector_batch,
            projector_idle_s=settings.projector_idle_s,
            fairness_flag_ratio=settings.fairness_flag_ratio,
        )


ConfigDep = Annotated[IncentivesConfig, Depends(get_config)]
