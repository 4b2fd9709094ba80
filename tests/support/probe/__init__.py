"""A probe service for the foundation tests: the real shared runtime with a deliberately
non-idempotent effect (one audit row per application) so that "applied exactly once" is
observable, and a handler that fails on demand (for the DLQ after bounded retries).

Run as a subprocess: `python -m tests.support.probe serve --port N` (SIGKILL tests)."""

from __future__ import annotations

import uuid
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from pydantic_settings import SettingsConfigDict

from sikader_shared.auth import require
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.envelope import Envelope
from sikader_shared.events import CadreDeactivated, CadreRegistered
from sikader_shared.http import execute_write
from sikader_shared.service import ServiceDefinition
from sikader_shared.settings import ServiceSettings
from sikader_shared.uow import Actor, UnitOfWork

PROBE_DIR = Path(__file__).resolve().parent


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_PROBE_", extra="ignore", populate_by_name=True)
    service_name: str = "probe"


async def on_cadre_registered(uow: UnitOfWork, event: CadreRegistered, env: Envelope) -> None:
    # Not idempotent on purpose: a second application would add a second row.
    uow.audit("probe.applied", "cadre", event.cadre_id, None, {"event_id": env.id})


FAIL_ON_BOOM = {"enabled": True}  # a test "fixes the bug" by switching this off, then re-drives


async def on_cadre_deactivated(uow: UnitOfWork, event: CadreDeactivated, env: Envelope) -> None:
    if event.reason == "boom" and FAIL_ON_BOOM["enabled"]:
        raise RuntimeError("probe handler fails for reason 'boom'")
    uow.audit("probe.deactivated", "cadre", event.cadre_id, None, {"event_id": env.id})


class ProbeCadre(BaseModel):
    name: str = Field(min_length=1, max_length=100)


router = APIRouter(prefix="/probe", tags=["probe"])


@router.post("/cadres", status_code=201)
async def register_probe_cadre(
    body: ProbeCadre, request: Request, actor: Actor = Depends(require("registry:write"))
) -> JSONResponse:
    """A write through the shared plumbing: unit of work, outbox, audit, Idempotency-Key."""

    async def register(uow: UnitOfWork) -> dict[str, str]:
        event = CadreRegistered(
            cadre_id=str(uuid.uuid4()),
            kelurahan_code="64.71.01.1001",
            kecamatan_code="64.71.01",
            name=body.name,
            status="active",
            registered_at=uow.clock.now(),
        )
        env = uow.emit(event)
        uow.audit("cadre.register", "cadre", event.cadre_id, None, {"name": body.name})
        return {"cadre_id": event.cadre_id, "event_id": env.id}

    return await execute_write(request, actor, register, status_code=201, body=body.model_dump())


@router.get("/whoami-read")
async def read_something(actor: Actor = Depends(require("registry:read"))) -> dict[str, str]:
    return {"client_id": actor.client_id}


def definition(settings: ProbeSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="probe",
        title="sikader probe (tests only)",
        description="Test service",
        settings=settings or ProbeSettings(),
        service_dir=PROBE_DIR,
        routers=[router],
        event_handlers={CadreRegistered: on_cadre_registered, CadreDeactivated: on_cadre_deactivated},
        clock=clock or SystemClock(),
    )
