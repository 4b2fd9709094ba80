"""Base class and registry of event models.

One pydantic model per event type and major version. Each model names its event, its
publishing service, its major version, its topic and the field that holds its aggregate id
(the Kafka key and `ce_subject`)."""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, model_validator

EVENT_MODELS: dict[str, type[Event]] = {}

# What every consumer's database can store, checked when an event is read, so that a bad value
# gets the same answer (a schema dead letter) on PostgreSQL and on SQLite (which stores a NUL
# character or an over-long value that PostgreSQL refuses): no text holds a NUL character, a
# name fits the projections' 200 characters, other text 2,000 (encrypted fields 10,000).
NAME_FIELDS = frozenset({"name", "cadre_name", "holder_name", "posyandu_name"})
NAME_MAX, TEXT_MAX, ENCRYPTED_MAX = 200, 2_000, 10_000


def text_problems(value: Any, path: str = "") -> list[str]:
    """Every string inside `value` (models, lists, dicts) with a NUL or beyond its length."""
    if isinstance(value, str):
        field = path.rsplit(".", 1)[-1].split("[", 1)[0]
        limit = NAME_MAX if field in NAME_FIELDS else ENCRYPTED_MAX if field.endswith("_enc") else TEXT_MAX
        problems = [f"{path}: contains a NUL character"] if "\x00" in value else []
        if len(value) > limit:
            problems.append(f"{path}: {len(value)} characters, at most {limit}")
        return problems
    if isinstance(value, BaseModel):
        return [p for name in type(value).model_fields for p in text_problems(getattr(value, name), _join(path, name))]
    if isinstance(value, list | tuple):
        return [p for i, item in enumerate(value) for p in text_problems(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [p for k, item in value.items() for p in text_problems(item, _join(path, str(k)))]
    return []


def _suspect(values: Any) -> bool:
    """A quick look (every event read passes here): any text with a NUL or longer than the
    shortest limit? Only then does `text_problems` name the fields."""
    for v in values:
        kind = type(v)
        if kind is str:
            if len(v) > NAME_MAX or "\x00" in v:
                return True
        elif kind is list or kind is tuple:
            if _suspect(v):
                return True
        elif kind is dict:
            if _suspect(v.values()):
                return True
        elif isinstance(v, BaseModel) and _suspect(v.__dict__.values()):
            return True
    return False


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class Event(BaseModel):
    # Unknown fields are ignored so that an older consumer accepts an event to which a newer
    # producer added an optional field (a compatible change within a major version).
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_name: ClassVar[str]
    service: ClassVar[str]
    version: ClassVar[int] = 1
    topic: ClassVar[str]
    aggregate_field: ClassVar[str]

    @model_validator(mode="after")
    def _storable_text(self) -> Event:
        problems = text_problems(self) if _suspect(self.__dict__.values()) else []
        if problems:
            raise ValueError("; ".join(problems[:5]))
        return self

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
