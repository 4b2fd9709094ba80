"""The service's HTTP routes, one module per resource, in the order the OpenAPI shows them.
The number-addressed routes come last: a certificate number contains slashes."""

from __future__ import annotations

from fastapi import APIRouter

from certification.entrypoints.routes import (
    assessments,
    cadres,
    catalogue,
    certificates,
    printable,
    statistics,
    trainings,
    verification,
)

ROUTERS: list[APIRouter] = [
    catalogue.router,
    cadres.router,
    trainings.router,
    assessments.router,
    certificates.router,
    statistics.router,
    verification.router,
    printable.router,
]
