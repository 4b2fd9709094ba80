"""Base class and registry of event models.

One pydantic model per event type and major version. Each model names its event, its
publishing service, its major version, its topic and the field that holds its aggregate id
(the Kafka key and `ce_subject`)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

EVENT_MODELS: dict[str, type[Event]] = {}


class Event(BaseModel):
    # Unknown fields are ignored so that an older consumer accepts an event to which a newer
    # producer added an optional field (a compatible change within a major version).
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_name: ClassVar[str]
    service: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]
    aggregate_field: ClassVar[str]

    @classmethod
    def ce_type(cls) -> str:
        return f"sikader.{cls.service}.{cls.event_name}.v{cls.version}"

    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_field))

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


E = TypeVar("E", bound="type[Event]")


def register(cls: E) -> E:
    """Class decorator: adds the model to the catalogue keyed by its `ce_type`."""
    key = cls.ce_type()
    if key in EVENT_MODELS:
        raise ValueError(f"duplicate event type {key}")
    if cls.aggregate_field not in cls.__pydantic_fields__:
        raise ValueError(f"{key}: aggregate field {cls.aggregate_field!r} is not a field")
    EVENT_MODELS[key] = cls
    return cls


def model_for(ce_type: str) -> type[Event] | None:
    return EVENT_MODELS.get(ce_type)
