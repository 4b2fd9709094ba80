"""The official AsyncAPI 3.0 JSON Schema (vendored from npm @asyncapi/specs, see
asyncapi-spec/) as a validator that never fetches anything, and the documents under test."""

from __future__ import annotations

import functools
import importlib
import json
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry
from referencing.exceptions import NoSuchResource

from sikader_shared import asyncapi, topics

SPEC_DIR = Path(__file__).resolve().parent / "asyncapi-spec"
SPEC_FILE = SPEC_DIR / "schemas" / "3.0.0.json"
PINNED_VERSION = "6.11.1"


def refuse_network(uri: str) -> Any:
    """The Registry's retrieve: everything must resolve from the vendored schema itself."""
    raise NoSuchResource(ref=uri)


@functools.cache
def spec_validator() -> Draft7Validator:
    schema = json.loads(SPEC_FILE.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema, registry=Registry(retrieve=refuse_network))  # type: ignore[call-arg]


def spec_errors(doc: dict[str, Any]) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message[:300]}" for e in spec_validator().iter_errors(doc)]


def service_documents() -> dict[str, dict[str, Any]]:
    """What each service serves at /asyncapi.json, built from its wiring (no service started)."""
    return {
        name: asyncapi.service_document(importlib.import_module(f"{name}.app").WIRING.definition())
        for name in topics.SERVICES
    }


def all_documents() -> dict[str, dict[str, Any]]:
    return {"platform": asyncapi.platform_document(), **service_documents()}


def within(doc: dict[str, Any], schema: dict[str, Any]) -> Draft7Validator:
    """A validator for `schema` taken from `doc`: its `#/components/...` refs resolve in `doc`
    (the components ride along under the schema's root, an unknown keyword to JSON Schema)."""
    return Draft7Validator(
        {**schema, "components": doc.get("components", {})},
        registry=Registry(retrieve=refuse_network),  # type: ignore[call-arg]
        format_checker=Draft7Validator.FORMAT_CHECKER,
    )
