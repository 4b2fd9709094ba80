"""Errors a handler raises to refuse a command; the HTTP layer maps them to 4xx with the
reason in the body. They carry no domain rules, only the shape of a refusal."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "detail": self.message}
        if self.details:
            out.update(self.details)
        return out


class NotFound(ServiceError):
    status_code = 404
    code = "not_found"


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


class Invalid(ServiceError):
    status_code = 422
    code = "invalid"


class Forbidden(ServiceError):
    status_code = 403
    code = "forbidden"


class Unavailable(ServiceError):
    status_code = 503
    code = "unavailable"
