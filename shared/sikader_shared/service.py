"""The runtime every service shares: database, outbox relay, idempotent consumer on a
FastStream Kafka broker, broker watcher (heals after a broker reset), API key verifier,
and the FastAPI app with health, metrics and offline docs. A service supplies only its
routes, its event handlers and its background jobs."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col
from starlette.exceptions import HTTPException as StarletteHTTPException

from sikader_shared import topics as topic_catalogue
from sikader_shared.aio import sleep_or_stop, wait_any
from sikader_shared.api_errors import HTTP_ERROR_CODES, data_error_reason, document_errors
from sikader_shared.auth import AUTH_HANDLERS, KeyVerifier, document_scopes
from sikader_shared.clock import Clock, SystemClock
from sikader_shared.consumer_lag import LagMonitor
from sikader_shared.db import DlqRecord, ServiceStateRecord, make_engine, session_factory
from sikader_shared.dead_letters import DeadLetterPublisher
from sikader_shared.errors import ServiceError
from sikader_shared.events.base import Event
from sikader_shared.inbox import EventConsumer, Handler, is_infrastructure_error
from sikader_shared.kafka import admin_for, ensure_topics, faststream_security, producer_for
from sikader_shared.logging import configure_logging, correlation_id_var
from sikader_shared.metrics import ServiceMetrics
from sikader_shared.nul_guard import NulGuard
from sikader_shared.outbox import OutboxRelay
from sikader_shared.ratelimit import RateLimiter
from sikader_shared.settings import ServiceSettings
from sikader_shared.uow import SYSTEM, Actor, UnitOfWork

log = logging.getLogger(__name__)

BackgroundJob = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]


@dataclass
class ServiceDefinition:
    name: str
    title: str
    description: str
    settings: ServiceSettings
    service_dir: Path  # holds alembic.ini and migrations/
    # What the service loaded from its settings (reference data, ciphers, rules), once: routes
    # read it through `deps.get_config`, jobs through `runtime.config`.
    config: Any = None
    routers: Sequence[APIRouter] = ()
    event_handlers: dict[type[Event], Handler] = field(default_factory=dict)
    background_jobs: Sequence[BackgroundJob] = ()
    clock: Clock = field(default_factory=SystemClock)
    version: str = "0.1.0"


@dataclass(frozen=True)
class ServiceWiring:
    """What a service is made of, declared once in its app.py; `definition` wires it:
    settings -> config (loaded once) -> the consumer's handler table -> ServiceDefinition."""

    name: str
    title: str
    description: str
    service_dir: Path
    settings_type: Callable[[], ServiceSettings]
    make_config: Callable[[Any], Any]  # XConfig.from_settings
    routers: Sequence[APIRouter]
    event_handlers: Callable[[Any], dict[type[Event], Handler]]  # from the config
    jobs: Sequence[BackgroundJob] = ()

    def definition(self, settings: ServiceSettings | None = None, clock: Clock | None = None) -> ServiceDefinition:
        settings = settings or self.settings_type()
        config = self.make_config(settings)
        return ServiceDefinition(
            name=self.name,
            title=self.title,
            description=self.description,
            settings=settings,
            service_dir=self.service_dir,
            config=config,
            routers=self.routers,
            event_handlers=self.event_handlers(config),
            background_jobs=self.jobs,
            clock=clock or SystemClock(),
        )

    def create_app(self) -> FastAPI:
        return create_service_app(self.definition())


class ServiceRuntime:
    def __init__(self, definition: ServiceDefinition) -> None:
        self.definition = definition
        self.name = definition.name
        self.settings = definition.settings
        self.config = definition.config
        self.clock = definition.clock
        self.database_url = self.settings.effective_database_url()
        self.engine = make_engine(self.database_url)
        self.sessions = session_factory(self.engine)
        self.metrics = ServiceMetrics(self.name)
        self.keys = KeyVerifier(self.sessions)
        self.rate_limiter = RateLimiter(
            {
                "public": self.settings.rate_limit_public_per_minute,
                "auth_failures": self.settings.rate_limit_auth_failures_per_minute,
            },
            self.settings.trusted_proxies,
        )
        self.relay = OutboxRelay(
            self.sessions,
            lambda: producer_for(self.settings),
            self.clock,
            batch_size=self.settings.outbox_batch_size,
            idle_poll_s=self.settings.outbox_idle_poll_s,
            retention_days=self.settings.outbox_retention_days,
            bulk_pause_s=self.settings.outbox_bulk_pause_s,
        )
        handlers: dict[type[Event], Handler] = {**AUTH_HANDLERS, **definition.event_handlers}
        self.consumer = EventConsumer(
            f"sikader-{self.name}",  # the inbox's consumer name: stable across consumer groups
            handlers,
            self.uow,
            max_attempts=self.settings.handler_max_attempts,
            max_body_bytes=self.settings.max_event_bytes,
        )
        self.group_id = self.settings.consumer_group or f"sikader-{self.name}"
        self.dlq_topic = topic_catalogue.dlq_topic(self.name)
        self.lag = LagMonitor(self.settings, self.group_id, list(self.consumer.topics))
        self.broker: KafkaBroker | None = None
        self.dead_letters = DeadLetterPublisher(
            self.dlq_topic,
            self.group_id,
            self.consumer.name,
            self.sessions,
            lambda: producer_for(self.settings),
            max_message_bytes=self.settings.dlq_max_message_bytes,
            attempts=self.settings.dlq_publish_attempts,
        )
        self.broker_state: dict[str, Any] = {"status": "starting", "checked_at": None, "error": None}
        self.broker_healthy = asyncio.Event()  # topics verified present since the last reset
        self._check_now = asyncio.Event()
        self._rebuild_consumers = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._heads = set(ScriptDirectory.from_config(self._alembic_config()).get_heads())
        self.heal_count = 0
        self._published_counted = 0  # relay.published_total already added to the counter

    # -- units of work ----------------------------------------------------------------------

    def uow(
        self, actor: Actor = SYSTEM, correlation_id: str | None = None, causation_id: str | None = None
    ) -> UnitOfWork:
        return UnitOfWork(
            self.sessions,
            service=self.name,
            clock=self.clock,
            outbox_signal=self.relay.signal,
            actor=actor,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )

    # -- lifecycle --------------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        cfg = Config(str(self.definition.service_dir / "alembic.ini"))
        cfg.set_main_option("script_location", str(self.definition.service_dir / "migrations"))
        return cfg

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._guard("relay", self._relay_loop), name="relay"),
            asyncio.create_task(self._guard("watcher", self._watch_broker), name="watcher"),
            asyncio.create_task(self._guard("consumer", self._consume), name="consumer"),
            asyncio.create_task(self._guard("lag", self._measure_lag), name="lag"),
        ]
        for job in self.definition.background_jobs:
            self._tasks.append(asyncio.create_task(self._guard(job.__name__, functools.partial(job, self, self._stop))))

    async def stop(self, grace_s: float = 10.0) -> None:
        self._stop.set()
        self._rebuild_consumers.set()
        self.relay.signal.set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.engine.dispose()

    async def _guard(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Keep a background loop alive: log a crash and restart it after a pause."""
        while not self._stop.is_set():
            try:
                await body()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task crashed; restarting", extra={"task": name})
                await sleep_or_stop(self._stop, 1.0)

    async def _relay_loop(self) -> None:
        # The relay publishes only once the watcher has seen the topics: publishing into a
        # freshly restarted local broker would auto-create topics with the wrong partitions.
        while not self._stop.is_set():
            await wait_any(self._stop, self.broker_healthy)
            if self._stop.is_set():
                return
            inner_stop = asyncio.Event()
            watcher = asyncio.create_task(self._stop_when_unhealthy(inner_stop))
            try:
                await self.relay.run(inner_stop)
            finally:
                watcher.cancel()
            if self.relay.last_error:
                self._check_now.set()

    async def _stop_when_unhealthy(self, inner_stop: asyncio.Event) -> None:
        while self.broker_healthy.is_set() and not self._stop.is_set():
            await asyncio.sleep(0.2)
            if self.relay.last_error:
                # Let the watcher confirm the broker before the next attempt.
                self.broker_healthy.clear()
                self._check_now.set()
        inner_stop.set()
        self.relay.signal.set()

    # -- broker watcher and healing ---------------------------------------------------------

    async def _watch_broker(self) -> None:
        interval = self.settings.broker_check_interval_s
        while not self._stop.is_set():
            await self.check_broker()
            self._check_now.clear()
            await wait_any(self._stop, self._check_now, timeout=interval)

    async def check_broker(self) -> None:
        epoch = topic_catalogue.epoch_topic(self.name)
        try:
            admin = admin_for(self.settings.kafka_bootstrap_servers, f"sikader-{self.name}-watch", self.settings)
            await asyncio.wait_for(admin.start(), 5)
            try:
                names = set(await asyncio.wait_for(admin.list_topics(), 5))
                cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
            finally:
                await admin.close()
        except Exception as exc:
            self.broker_healthy.clear()
            self.metrics.broker_up.set(0)
            self.broker_state.update(status="unreachable", error=f"{type(exc).__name__}: {exc}")
            return
        self.metrics.broker_up.set(1)
        cluster_id = str(cluster.get("cluster_id", ""))
        stored = await self._state("kafka_cluster_id")
        if epoch not in names or (stored is not None and stored != cluster_id):
            await self.heal(cluster_id, reason="epoch topic missing" if epoch not in names else "cluster id changed")
        self.broker_state.update(
            status="up", error=None, cluster_id=cluster_id, checked_at=self.clock.now().isoformat()
        )
        self.broker_healthy.set()

    async def heal(self, cluster_id: str, reason: str) -> None:
        """The broker lost its data (or this is a new broker): re-create the topics, rebuild
        the clients and re-publish every retained event."""
        log.warning("broker reset detected; healing", extra={"reason": reason})
        self.broker_healthy.clear()
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            [*topic_catalogue.all_topic_names(), self.dlq_topic],
            self.settings.topic_partitions,
            self.settings.topic_replication_factor,
            self.settings,
        )
        await self.relay.reset_producer()
        count = await self.relay.mark_for_republish()
        await self._set_state("kafka_cluster_id", cluster_id)
        # The epoch marker is created last: if anything above failed we heal again next time.
        await ensure_topics(
            self.settings.kafka_bootstrap_servers,
            [topic_catalogue.epoch_topic(self.name)],
            1,
            self.settings.topic_replication_factor,
            self.settings,
        )
        self._rebuild_consumers.set()
        self.heal_count += 1
        log.warning("healed", extra={"republished": count})

    async def _state(self, name: str) -> str | None:
        async with self.sessions() as session:
            row = await session.get(ServiceStateRecord, name)
            return row.value if row else None

    async def _set_state(self, name: str, value: str) -> None:
        async with self.sessions() as session:
            row = await session.get(ServiceStateRecord, name)
            if row is None:
                session.add(ServiceStateRecord(name=name, value=value))
            else:
                row.value = value
                session.add(row)
            await session.commit()

    # -- consuming --------------------------------------------------------------------------

    def build_broker(self) -> KafkaBroker:
        s = self.settings
        broker = KafkaBroker(
            # a list: FastStream hands a string to aiokafka as one host, so "a:9092,b:9092"
            # (a cluster) would never connect
            [h.strip() for h in s.kafka_bootstrap_servers.split(",") if h.strip()],
            client_id=f"sikader-{self.name}",
            logger=None,
            security=faststream_security(s),
        )

        async def raw(msg: Any) -> Any:  # keep bytes: decoding is the consumer's job
            return msg.body

        async def parse(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
            # FastStream decodes every header value as UTF-8; one that is not (or a null one)
            # made it drop the whole batch silently while the offsets moved on. It gets
            # readable copies; the consumer gets the records as they are (and dead-letters it).
            try:
                return await original(records)
            except (UnicodeDecodeError, AttributeError):
                readable = tuple(
                    dataclasses.replace(r, headers=[(k, _readable(v)) for k, v in r.headers or ()]) for r in records
                )
                message = await original(readable)
                message.raw_message = records
                return message

        @broker.subscriber(
            *self.consumer.topics,
            batch=True,
            group_id=self.group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.MANUAL,
            max_records=s.consumer_max_records,
            batch_timeout_ms=s.consumer_batch_timeout_ms,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=s.heartbeat_interval_ms,
            decoder=raw,
            parser=parse,
            title=f"{self.name}:events",
            description=f"Events the {self.name} service applies (idempotently, in batches).",
        )
        async def on_events(message: KafkaMessage) -> None:
            await self.on_batch(message)

        return broker

    async def on_batch(self, message: Any) -> None:
        records = message.raw_message
        if not isinstance(records, tuple | list):
            records = (records,)
        try:
            dead = await self.consumer.process(records)
            if dead:
                # never raises for the DLQ topic: what it will not take is kept in the database
                await self.dead_letters.publish(dead)
                self.metrics.dlq_messages.inc(len(dead))
            # Committed from a context of its own: the commit's request timers (kept after
            # cancellation) would otherwise keep FastStream's context, hence the whole batch,
            # alive as long (docs/benchmarks.md, "Figures behind the code").
            await asyncio.create_task(message.ack(), context=contextvars.Context())
        except Exception:
            log.warning("batch not applied; will re-read it", exc_info=True)
            await message.nack()
            await sleep_or_stop(self._stop, 1.0)
            return
        self.metrics.events_applied.inc(len(records))

    async def _measure_lag(self) -> None:
        """Lag and stalled partitions from the broker's offsets, every consumer_lag_interval_s."""
        reported: set[tuple[str, int]] = set()
        try:
            while not self._stop.is_set():
                await wait_any(self._stop, self.broker_healthy)
                try:
                    await self.lag.check()
                except Exception as exc:
                    log.debug("consumer lag not measured", extra={"error": f"{type(exc).__name__}: {exc}"})
                    await self.lag.close()
                for (topic, partition), state in self.lag.partitions.items():
                    self.metrics.consumer_lag.labels(topic, str(partition)).set(state.lag)
                stalled = self.lag.stalled()
                self.metrics.consumer_stalled.set(len(stalled))
                now_stalled = {(p["topic"], p["partition"]) for p in stalled}
                if now_stalled - reported:  # once per stall, not every interval
                    log.warning("consumer stalled", extra={"partitions": stalled})
                reported = now_stalled
                await sleep_or_stop(self._stop, self.settings.consumer_lag_interval_s)
        finally:
            await self.lag.close()

    async def _consume(self) -> None:
        while not self._stop.is_set():
            await wait_any(self._stop, self.broker_healthy)
            if self._stop.is_set():
                return
            self._rebuild_consumers.clear()
            broker = self.build_broker()
            try:
                await asyncio.wait_for(broker.start(), 30)
            except Exception:
                log.warning("consumer start failed; retrying", exc_info=True)
                with contextlib.suppress(Exception):
                    await broker.stop()
                await sleep_or_stop(self._stop, 2.0)
                continue
            self.broker = broker
            log.info("consuming", extra={"topics": self.consumer.topics, "group": self.group_id})
            await wait_any(self._stop, self._rebuild_consumers)
            self.broker = None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(broker.stop(), 15)
            await self.dead_letters.close()

    # -- health -----------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        body: dict[str, Any] = {"service": self.name}
        try:
            async with self.engine.connect() as conn:
                versions: set[str] = set(
                    (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars()
                )
            migrated = versions == self._heads
            body["database"] = {"status": "up", "migrated": migrated}
        except Exception as exc:
            migrated = False
            body["database"] = {"status": "down", "error": type(exc).__name__}
        body["broker"] = dict(self.broker_state)
        body["consumer"] = {
            "running": self.broker is not None,
            "group": self.group_id,
            "lag": self.lag.total(),
            "lag_by_topic": self.lag.by_topic(),
            "stalled_partitions": self.lag.stalled(),
            "lag_measured_s_ago": (
                None if self.lag.checked_at is None else round(time.monotonic() - self.lag.checked_at, 1)
            ),
        }
        try:
            body["outbox_backlog"] = await self.relay.backlog()
        except Exception:
            body["outbox_backlog"] = None
        ok = body["database"]["status"] == "up" and migrated
        return ok, body

    async def refresh_gauges(self) -> None:
        with contextlib.suppress(Exception):
            self.metrics.outbox_backlog.set(await self.relay.backlog())
            async with self.sessions() as session:
                kept = await session.scalar(
                    select(func.count()).select_from(DlqRecord).where(col(DlqRecord.published).is_(False))
                )
            self.metrics.dlq_kept.set(int(kept or 0))
        published = self.relay.published_total
        self.metrics.outbox_published.inc(max(0, published - self._published_counted))
        self._published_counted = published


def _readable(value: bytes | None) -> bytes:
    if value is None:
        return b""
    try:
        value.decode("utf-8")
        return value
    except UnicodeDecodeError:
        return b""


# -- the HTTP app ---------------------------------------------------------------------------


def create_service_app(definition: ServiceDefinition) -> FastAPI:
    settings = definition.settings
    configure_logging(definition.name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(definition)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("service started", extra={"port": settings.http_port})
        try:
            yield
        finally:
            await runtime.stop()
            log.info("service stopped")

    app = FastAPI(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.add_middleware(NulGuard)
    _install_middleware(app, runtime)
    _install_platform_routes(app)
    for router in definition.routers:
        app.include_router(router)
    build_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_scopes(document_errors(build_openapi()), list(app.routes))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _install_middleware(app: FastAPI, runtime: ServiceRuntime) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation = request.headers.get("x-correlation-id") or str(uuid.uuid4())
        token = correlation_id_var.set(correlation)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Correlation-ID"] = correlation
            return response
        finally:
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            elapsed = time.perf_counter() - started
            runtime.metrics.requests.labels(request.method, template, str(status)).inc()
            runtime.metrics.request_seconds.labels(request.method, template).observe(elapsed)
            if not template.startswith("/health") and template != "/metrics":
                log.info(
                    "http",
                    extra={
                        "method": request.method,
                        "route": template,
                        "status": status,
                        "ms": round(elapsed * 1000, 1),
                    },
                )
            correlation_id_var.reset(token)

    @app.exception_handler(ServiceError)
    async def service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Echo locations and messages, never the submitted values (they may be personal data).
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"error": "invalid", "detail": "request validation failed", "errors": errors}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> Response:
        # Auth refusals, unreadable bodies, unknown routes: the same shape as every refusal.
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=exc.headers)
        body = {"error": HTTP_ERROR_CODES.get(exc.status_code, "error"), "detail": exc.detail}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(DBAPIError)
    async def data_error(request: Request, exc: DBAPIError) -> Response:
        # The database away for a moment: 503. A value the database cannot store (a NUL in a
        # text, a number beyond 64 bits) is bad input, not a server fault: 422 with the kind of
        # value. Anything else stays a 500.
        if is_infrastructure_error(exc):
            return _unavailable(request, exc)
        sqlstate = str(getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None) or "")
        reason = data_error_reason(sqlstate)
        if reason is None:
            raise exc
        log.warning("input refused by the database", extra={"sqlstate": sqlstate, "path": request.url.path})
        return JSONResponse({"error": "invalid", "detail": reason}, status_code=422)

    @app.exception_handler(OSError)
    async def unreachable(request: Request, exc: OSError) -> Response:
        return _unavailable(request, exc)  # e.g. the database refuses connections while it restarts


def _install_platform_routes(app: FastAPI) -> None:
    import swagger_ui_bundle

    from sikader_shared.platform_routes import router  # (it depends on this module)

    app.mount("/static/swagger", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path), name="swagger")
    app.include_router(router)


def _unavailable(request: Request, exc: BaseException) -> JSONResponse:
    """The database is away for a moment (restarting, unreachable): 503 with when to retry,
    not a 500. A write answered so may or may not have committed; the same Idempotency-Key
    makes the retry safe."""
    log.warning("database unavailable", extra={"path": request.url.path, "error": type(exc).__name__})
    body = {"error": "unavailable", "detail": "the database is unavailable for a moment; retry (same Idempotency-Key)"}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})


def asyncapi_document(runtime: ServiceRuntime) -> dict[str, Any]:
    """AsyncAPI 3.0 of this service (sikader_shared.asyncapi): the topics it publishes and
    the ones it consumes, built once from the event catalogue."""
    from sikader_shared.asyncapi import service_document

    cached: dict[str, Any] | None = getattr(runtime, "_asyncapi", None)
    if cached is None:
        cached = service_document(runtime.definition)
        runtime._asyncapi = cached  # type: ignore[attr-defined]
    return cached
