"""The registry's HTTP routes, one module per resource, in the order the OpenAPI shows them."""

from __future__ import annotations

from fastapi import APIRouter

from registry.entrypoints.routes import (
    audit,
    cadres,
    imports,
    posyandu,
    posyandu_map,
    statistics,
    verification,
    wilayah,
)

# The fixed /posyandu paths come before /posyandu/{posyandu_id}, which would take them.
ROUTERS: list[APIRouter] = [
    wilayah.router,
    posyandu_map.router,
    verification.router,
    posyandu.router,
    cadres.router,
    imports.router,
    statistics.router,
    audit.router,
]
