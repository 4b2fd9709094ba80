"""Every refusal has one shape, `{"error": ..., "detail": ..., "errors": [...]}`, and the
OpenAPI documents where it can come from, so that clients (and the schema-driven fuzz tests)
can rely on the document: which status codes an operation answers and what their bodies
look like."""

from __future__ import annotations

from typing import Any

# `error` for refusals raised as HTTPException (auth, unparsable body, unknown route).
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
}

# PostgreSQL's class 22 ("data exception"): the request carried a value the database cannot
# store or compare. The reason names the kind of value, never the value (it may be personal).
_DATA_ERRORS = {
    "22021": "a text value contains a NUL or invalid character",
    "22P05": "a text value contains a character the database cannot store",
    "22001": "a text value is longer than allowed",
    "22003": "a number is out of range",
    "22008": "a date or time is out of range",
}


def data_error_reason(sqlstate: str) -> str | None:
    """The reason for a class 22 SQLSTATE, None for any other (a real server error)."""
    if not sqlstate.startswith("22"):
        return None
    # 22000 is what asyncpg reports when it cannot even encode a value (e.g. beyond int64).
    return _DATA_ERRORS.get(sqlstate, "a value is out of range or malformed")


_VALIDATION_ITEM = {
    "title": "ValidationError",
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
}
_ERROR_BODY = {
    "title": "Refusal",
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Kind of refusal, e.g. invalid, not_found, conflict"},
        "detail": {"type": "string", "description": "The reason"},
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ValidationError"},
            "description": "For invalid input: each field's location and message (never its value)",
        },
    },
    "additionalProperties": True,
}
_DESCRIPTIONS = {
    "400": "Malformed request (e.g. a body that cannot be read)",
    "401": "No or bad API key",
    "403": "The key lacks the scope",
    "404": "Not found",
    "409": "Refused in the current state",
    "422": "Invalid input, with the field and reason",
}
_WRITES = {"post", "put", "patch", "delete"}
REFUSAL_REF = {"$ref": "#/components/schemas/Refusal"}


def document_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace FastAPI's default 422 body (which this app never sends) by the real one and
    add the refusals each operation can answer but does not declare: 401/403 where a key is
    checked, 400 where a body is read, 404 where a path names a resource, 409 for writes,
    422 where there is input."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ValidationError"] = _VALIDATION_ITEM
    components["HTTPValidationError"] = {**_ERROR_BODY, "title": "HTTPValidationError"}
    components["Refusal"] = _ERROR_BODY
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method not in _WRITES | {"get"}:
                continue
            codes = []
            if op.get("security"):  # declared by sikader_shared.auth.require
                codes += ["401", "403"]
            if "requestBody" in op:
                codes.append("400")
            if "{" in path:
                codes.append("404")
            if method in _WRITES:
                codes.append("409")
            if method in _WRITES or op.get("parameters"):
                codes.append("422")
            responses = op.setdefault("responses", {})
            for code in codes:
                responses.setdefault(code, {"description": _DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith("4"):
                    _json_refusal(code, response)
    return schema


def _json_refusal(code: str, response: dict[str, Any]) -> None:
    """A refusal is JSON even where the route answers HTML or PDF (FastAPI files a declared
    error model under the route's own media type) or declares only a description."""
    content = response.get("content") or {}
    schema = next((c["schema"] for c in content.values() if "schema" in c), REFUSAL_REF)
    if code == "404" and schema != REFUSAL_REF:
        # A path that matches no route (e.g. a certificate number with a line break) gets
        # the router's refusal, whatever the route documents for its own 404.
        schema = {"anyOf": [schema, REFUSAL_REF]}
    response["content"] = {"application/json": {"schema": schema}}
