"""The registry's HTTP routes, one module per resource, in the order the OpenAPI shows them."""

from __future__ import annotations

from fastapi import APIRouter

from registry.entrypoints.routes import audit, cadres, posyandu, statistics, wilayah

ROUTERS: list[APIRouter] = [wilayah.router, posyandu.router, cadres.router, statistics.router, audit.router]
