"""The FastAPI dependencies every route module uses, as `Annotated` aliases: the runtime, a
database session, a unit of work for the caller, the service's config, and the caller with
the scope a route needs. A route names what it needs in its signature and nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from sikader_shared.auth import require
from sikader_shared.logging import correlation_id_var
from sikader_shared.service import ServiceRuntime
from sikader_shared.uow import Actor, UnitOfWork


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A read-only session for one request (writes go through a unit of work)."""
    async with get_runtime(request).sessions() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def get_uow_factory(request: Request) -> Callable[[Actor], UnitOfWork]:
    """Units of work for this request: `async with new_uow(actor) as uow: ...`."""
    runtime = get_runtime(request)
    return lambda actor: runtime.uow(actor=actor, correlation_id=correlation_id_var.get())


UowFactoryDep = Annotated[Callable[[Actor], UnitOfWork], Depends(get_uow_factory)]


def get_config(request: Request) -> Any:
    """The service's config (`ServiceDefinition.config`). Each service types it once in its
    config module: `ConfigDep = Annotated[XConfig, Depends(get_config)]`."""
    return get_runtime(request).config


# The caller: an OPD client's key, checked (401 without a valid key, 403 without the scope).
Caller = Annotated[Actor, Depends(require())]
Admin = Annotated[Actor, Depends(require("admin"))]
AuditReader = Annotated[Actor, Depends(require("audit:read"))]
RegistryReader = Annotated[Actor, Depends(require("registry:read"))]
RegistryWriter = Annotated[Actor, Depends(require("registry:write"))]
PiiReader = Annotated[Actor, Depends(require("registry:pii"))]
PosyanduVerifier = Annotated[Actor, Depends(require("posyandu:verify"))]
Trainer = Annotated[Actor, Depends(require("certification:train"))]
Assessor = Annotated[Actor, Depends(require("certification:assess"))]
CertificateRevoker = Annotated[Actor, Depends(require("certification:revoke"))]
IncentivesReader = Annotated[Actor, Depends(require("incentives:read"))]
PolicyEditor = Annotated[Actor, Depends(require("incentives:policy"))]
Calculator = Annotated[Actor, Depends(require("incentives:calculate"))]
Approver = Annotated[Actor, Depends(require("incentives:approve"))]
Payer = Annotated[Actor, Depends(require("incentives:pay"))]
Subscriber = Annotated[Actor, Depends(require("notifications:subscribe"))]
Broadcaster = Annotated[Actor, Depends(require("notifications:broadcast"))]
