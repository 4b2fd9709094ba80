"""Structured JSON logs. Context (service, correlation id, event id) rides in contextvars so
every line inside a request or an event handler carries it. Never log bodies: they may hold
personal data."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
event_id_var: ContextVar[str | None] = ContextVar("event_id", default=None)
actor_var: ContextVar[str | None] = ContextVar("actor", default=None)

_service_name = "sikader"
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": _service_name,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, var in (
            ("correlation_id", correlation_id_var),
            ("event_id", event_id_var),
            ("actor", actor_var),
        ):
            value = var.get()
            if value:
                line[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class RepeatFilter(logging.Filter):
    """Lets the same message template from a logger through once per `every_s` seconds:
    while the broker is away aiokafka logs each reconnect attempt, many times a second."""

    def __init__(self, every_s: float = 30.0) -> None:
        super().__init__()
        self.every_s = every_s
        self._last: dict[tuple[str, str], float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = record.created
        if now - self._last.get(key, float("-inf")) < self.every_s:
            return False
        self._last[key] = now
        return True


class _AiokafkaRepeats(RepeatFilter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith("aiokafka") or super().filter(record)


def configure_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    global _service_name
    _service_name = service
    handler = logging.StreamHandler(sys.stdout)
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every reconnect while the broker is away: keep its warnings, once each
    # per 30 s (the service's own watcher reports the broker state in /health/ready).
    aiokafka_log = logging.getLogger("aiokafka")
    aiokafka_log.setLevel("WARNING")
    if not any(isinstance(f, RepeatFilter) for f in handler.filters):
        handler.addFilter(_AiokafkaRepeats())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "faststream", "faststream.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    logging.getLogger("faststream.access").setLevel("WARNING")
