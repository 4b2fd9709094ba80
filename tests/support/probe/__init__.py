"""A probe service for the foundation tests: the real shared runtime with a deliberately
non-idempotent effect (one audit row per application) so that "applied exactly once" is
observable, and a handler that fails on demand (for the DLQ after bounded retries).

Run as a subprocess: `python -m tests.support.probe serve --port N` (SIGKILL tests)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from sikader_shared.clock import Clock, SystemClock
from sikader_shared.envelope import Envelope
from sikader_shared.events import CadreDeactivated, CadreRegistered
from sikader_shared.service import ServiceDefinition
from sikader_shared.settings import ServiceSettings
from sikader_shared.uow import UnitOfWork

PROBE_DIR = Path(__file__).resolve().parent


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SIKADER_PROBE_", extra="ignore", populate_by_name=True)
    service_name: str = "probe"


async def on_cadre_registered(uow: UnitOfWork, event: CadreRegistered, env: Envelope) -> None:
    # Not idempotent on purpose: a second application would add a second row.
    uow.audit("probe.applied", "cadre", event.cadre_id, None, {"event_id": env.id})


async def on_cadre_deactivated(uow: UnitOfWork, event: CadreDeactivated, env: Envelope) -> None:
    if event.reason == "boom":
        raise RuntimeError("probe handler fails for reason 'boom'")
    uow.audit("probe.deactivated", "cadre", event.cadre_id, None, {"event_id": env.id})


def definition(settings: ProbeSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
    return ServiceDefinition(
        name="probe",
        title="sikader probe (tests only)",
        description="Test service",
        settings=settings or ProbeSettings(),
        service_dir=PROBE_DIR,
        event_handlers={CadreRegistered: on_cadre_registered, CadreDeactivated: on_cadre_deactivated},
        clock=clock or SystemClock(),
    )
