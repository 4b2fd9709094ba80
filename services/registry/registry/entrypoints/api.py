"""HTTP routes of the registry: parse, authorise, call a handler through `execute_write`,
shape the answer. Personal data is masked unless the key has `registry:pii`; every
unmasked read is written to the PII read log."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from registry import handlers
from registry.adapters import queries
from registry.adapters.tables import CadreRecord
from registry.config import RegistryConfig
from registry.domain.commands import (
    AssessmentCreate,
    CadreAssign,
    CadreCreate,
    CadreStatusChange,
    CadreUpdate,
    PosyanduClosure,
    PosyanduCreate,
    PosyanduUpdate,
    VerificationDecision,
)
from registry.domain.csvfiles import (
    CADRE_OPTIONAL,
    CADRE_REQUIRED,
    POSYANDU_OPTIONAL,
    POSYANDU_REQUIRED,
    CsvFileError,
    Parsed,
    parse_cadres,
    parse_posyandu,
)
from registry.domain.identity import nik_hash
from registry.entrypoints.schemas import (
    MAX_PAGE,
    AssessmentOut,
    AssignmentOut,
    CadreOut,
    CadrePage,
    CadreSearch,
    ClosureOut,
    ImportReport,
    KecamatanOut,
    KelurahanOut,
    MappingStatistics,
    PosyanduOut,
    PosyanduPage,
    VerificationOut,
    pii_fields,
)
from sikader_shared.auth import require
from sikader_shared.clock import utc
from sikader_shared.errors import Forbidden, Invalid, NotFound, ServiceError
from sikader_shared.http import execute_write, log_pii_read
from sikader_shared.service import ServiceRuntime
from sikader_shared.uow import Actor, UnitOfWork

PII = "registry:pii"
CSV_TYPES = ("text/csv", "application/csv", "text/plain", "application/vnd.ms-excel")


class UnsupportedMediaType(ServiceError):
    status_code = 415
    code = "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status_code = 413
    code = "payload_too_large"


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _csv_body(example: str, required: tuple[str, ...], optional: tuple[str, ...]) -> dict[str, Any]:
    description = (
        "CSV (UTF-8, comma or semicolon separated) with a header row. Required columns: "
        + ", ".join(required)
        + ". Optional: "
        + ", ".join(optional)
        + ". Dates as YYYY-MM-DD; lists (roles, equipment) separated by ';' or '|'."
    )
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"text/csv": {"schema": {"type": "string"}, "example": example}},
        }
    }


CADRE_CSV_EXAMPLE = (
    "nik,name,sex,birth_date,phone,kelurahan_code,posyandu_name,roles,payment_method,bank,account_number\n"
    "6471015508900001,Siti Aminah,P,1990-08-15,0812-3456-7890,64.71.06.1002,Melati,posyandu_cadre;pkk,"
    "bank,BPD_KALTIMTARA,0012345678\n"
)
POSYANDU_CSV_EXAMPLE = (
    "name,kelurahan_code,posyandu_type,rt,sk_number,sk_date,facility_status,equipment,assessed_by,assessed_on\n"
    "Posyandu Melati,64.71.06.1002,balita,012,188.4/12/KLI/2024,2024-07-01,resident_house,dacin;kia_book,"
    "Puskesmas Klandasan Ilir,2026-11-02\n"
)


async def _read_csv(request: Request, cfg: RegistryConfig) -> bytes:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in CSV_TYPES:
        raise UnsupportedMediaType(
            f"send the file as text/csv (got {content_type or 'no content type'})", accepted=list(CSV_TYPES)
        )
    raw = await request.body()
    if len(raw) > cfg.import_max_bytes:
        raise PayloadTooLarge(f"the file is larger than {cfg.import_max_bytes} bytes: split it")
    return raw


async def _parse(parse: Callable[[bytes, int], Parsed], raw: bytes, cfg: RegistryConfig) -> Parsed:
    try:
        # Parsing is CPU work: keep the event loop answering other requests meanwhile.
        return await asyncio.to_thread(parse, raw, cfg.import_max_rows)
    except CsvFileError as exc:
        raise Invalid(exc.reason, **exc.details) from exc


def build_routers(cfg: RegistryConfig) -> list[APIRouter]:
    wilayah = APIRouter(prefix="/wilayah", tags=["wilayah"])
    posyandu = APIRouter(prefix="/posyandu", tags=["posyandu"])
    cadres = APIRouter(prefix="/cadres", tags=["cadres"])
    stats = APIRouter(prefix="/statistics", tags=["statistics"])

    # ------------------------------------------------------------------ wilayah

    @wilayah.get("/kecamatan", response_model=list[KecamatanOut])
    async def list_kecamatan(_actor: Actor = Depends(require("registry:read"))) -> list[KecamatanOut]:
        """The kecamatan of the configured city (reference data, read-only)."""
        return [KecamatanOut(code=k.code, name=k.name, kelurahan_count=len(k.kelurahan)) for k in cfg.wilayah.kecamatan]

    @wilayah.get("/kelurahan", response_model=list[KelurahanOut], responses={404: {"description": "Unknown kecamatan"}})
    async def list_kelurahan(
        kecamatan: str | None = Query(None, description="Kecamatan code, e.g. 64.71.06", examples=["64.71.06"]),
        _actor: Actor = Depends(require("registry:read")),
    ) -> list[KelurahanOut]:
        """The kelurahan of the city, or of one kecamatan."""
        out: list[KelurahanOut] = []
        for kec in cfg.wilayah.kecamatan:
            if kecamatan is not None and kec.code != kecamatan:
                continue
            out.extend(
                KelurahanOut(code=k.code, name=k.name, kecamatan_code=kec.code, kecamatan_name=kec.name)
                for k in kec.kelurahan
            )
        if kecamatan is not None and not out:
            raise NotFound(f"no kecamatan {kecamatan}")
        return out

    # ------------------------------------------------------------------ Posyandu

    def posyandu_write(
        request: Request,
        actor: Actor,
        body: Any,
        op: Callable[[UnitOfWork], Awaitable[Any]],
        status_code: int = 200,
    ) -> Awaitable[JSONResponse]:
        return execute_write(request, actor, op, status_code=status_code, body=body)

    @posyandu.post("", status_code=201, response_model=PosyanduOut)
    async def register_posyandu(
        body: PosyanduCreate, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Register a Posyandu in a kelurahan (409 if one of the same name exists there).
        Emits PosyanduRegistered."""

        async def op(uow: UnitOfWork) -> PosyanduOut:
            return PosyanduOut.of(await handlers.register_posyandu(uow, cfg, body))

        return await posyandu_write(request, actor, body.model_dump(mode="json"), op, 201)

    @posyandu.get("", response_model=PosyanduPage)
    async def list_posyandu(
        request: Request,
        kecamatan_code: str | None = Query(None, examples=["64.71.06"]),
        kelurahan_code: str | None = Query(None, examples=["64.71.06.1002"]),
        status: str | None = Query(None, pattern="^(active|closed|merged)$"),
        verification_status: str | None = Query(None, pattern="^(PENDING|VERIFIED|REJECTED)$"),
        facility_status: str | None = Query(
            None, pattern="^(own_building|resident_house|public_building|none|not_assessed)$"
        ),
        posyandu_type: str | None = Query(None, pattern="^(balita|lansia|remaja|ILP)$"),
        name: str | None = Query(None, max_length=100, description="Part of the name"),
        page: int = Query(1, ge=1, le=MAX_PAGE),
        page_size: int = Query(50, ge=1, le=500),
        _actor: Actor = Depends(require("registry:read")),
    ) -> PosyanduPage:
        """Posyandu filtered by area, institution status, verification, facility and type."""
        f = queries.PosyanduFilter(
            kecamatan_code, kelurahan_code, status, verification_status, facility_status, posyandu_type, name
        )
        async with _runtime(request).sessions() as session:
            items, total = await queries.list_posyandu(session, f, page, page_size)
        return PosyanduPage(items=[PosyanduOut.of(p) for p in items], total=total, page=page, page_size=page_size)

    @posyandu.get("/{posyandu_id}", response_model=PosyanduOut)
    async def get_posyandu(
        posyandu_id: str, request: Request, _actor: Actor = Depends(require("registry:read"))
    ) -> PosyanduOut:
        async with _runtime(request).uow() as uow:
            return PosyanduOut.of(await handlers.get_posyandu(uow, posyandu_id))

    @posyandu.patch("/{posyandu_id}", response_model=PosyanduOut)
    async def update_posyandu(
        posyandu_id: str, body: PosyanduUpdate, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Change a Posyandu's data, institution (SK, LKK registration) or management roles.
        Emits PosyanduUpdated when a published field changed."""

        async def op(uow: UnitOfWork) -> PosyanduOut:
            return PosyanduOut.of(await handlers.update_posyandu(uow, cfg, posyandu_id, body))

        return await posyandu_write(request, actor, body.model_dump(mode="json", exclude_unset=True), op)

    @posyandu.post("/{posyandu_id}/assessments", status_code=201, response_model=AssessmentOut)
    async def assess_facility(
        posyandu_id: str, body: AssessmentCreate, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Record a facility assessment (kept as history). The Posyandu goes back to PENDING
        verification. Emits PosyanduFacilityAssessed."""

        async def op(uow: UnitOfWork) -> AssessmentOut:
            return AssessmentOut.of(await handlers.assess_facility(uow, cfg, posyandu_id, body))

        return await posyandu_write(request, actor, body.model_dump(mode="json"), op, 201)

    @posyandu.get("/{posyandu_id}/assessments", response_model=list[AssessmentOut])
    async def list_assessments(
        posyandu_id: str, request: Request, _actor: Actor = Depends(require("registry:read"))
    ) -> list[AssessmentOut]:
        """Every facility assessment of the Posyandu, oldest first."""
        async with _runtime(request).uow() as uow:
            await handlers.get_posyandu(uow, posyandu_id)
            return [AssessmentOut.of(a) for a in await queries.assessments(uow.session, posyandu_id)]

    @posyandu.post("/{posyandu_id}/verification", status_code=201, response_model=VerificationOut)
    async def verify(
        posyandu_id: str,
        body: VerificationDecision,
        request: Request,
        actor: Actor = Depends(require("posyandu:verify")),
    ) -> JSONResponse:
        """VERIFIED or REJECTED (with a reason), covering the latest facility assessment and
        the institution. Emits PosyanduFacilityVerified / PosyanduFacilityRejected."""

        async def op(uow: UnitOfWork) -> VerificationOut:
            return VerificationOut.of(await handlers.decide_verification(uow, cfg, posyandu_id, body))

        return await posyandu_write(request, actor, body.model_dump(mode="json"), op, 201)

    @posyandu.get("/{posyandu_id}/verifications", response_model=list[VerificationOut])
    async def list_verifications(
        posyandu_id: str, request: Request, _actor: Actor = Depends(require("registry:read"))
    ) -> list[VerificationOut]:
        """Every verification decision on the Posyandu, oldest first."""
        async with _runtime(request).uow() as uow:
            await handlers.get_posyandu(uow, posyandu_id)
            return [VerificationOut.of(v) for v in await queries.verifications(uow.session, posyandu_id)]

    @posyandu.post("/{posyandu_id}/closure", response_model=ClosureOut)
    async def close(
        posyandu_id: str, body: PosyanduClosure, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Close the Posyandu or merge it into another; its cadres move to the receiving
        Posyandu. Emits PosyanduClosed, then CadreAssigned per cadre moved (or CadreUpdated
        per cadre left unassigned)."""

        async def op(uow: UnitOfWork) -> dict[str, Any]:
            return await handlers.close_posyandu(uow, cfg, posyandu_id, body)

        return await posyandu_write(request, actor, body.model_dump(mode="json"), op)

    @posyandu.post(
        "/import",
        response_model=ImportReport,
        openapi_extra=_csv_body(POSYANDU_CSV_EXAMPLE, POSYANDU_REQUIRED, POSYANDU_OPTIONAL),
    )
    async def import_posyandu(request: Request, actor: Actor = Depends(require("registry:write"))) -> JSONResponse:
        """Bulk registration from a spreadsheet. A row with facility columns also records its
        assessment. Rows already registered (same kelurahan and normalised name) are reported,
        not registered again. A file that is not a CSV of these columns: 422, nothing changes."""
        raw = await _read_csv(request, cfg)
        with _runtime(request).relay.yielding_to_bulk():  # the import first, its events after
            parsed = await _parse(parse_posyandu, raw, cfg)

            async def op(uow: UnitOfWork) -> dict[str, Any]:
                return await handlers.import_posyandu(uow, cfg, parsed)

            return await execute_write(request, actor, op, body={"sha256": hashlib.sha256(raw).hexdigest()})

    # ------------------------------------------------------------------ cadres

    async def present(request: Request, actor: Actor, records: list[CadreRecord]) -> list[CadreOut]:
        """Masked, or unmasked and logged (one PII read entry per cadre shown)."""
        if not actor.has(PII) or not records:
            return [CadreOut.of(r, unmasked=False) for r in records]
        async with _runtime(request).uow(actor=actor) as uow:
            for r in records:
                log_pii_read(uow, request, "cadre", r.id, pii_fields(r))
            await uow.commit()
        return [CadreOut.of(r, unmasked=True) for r in records]

    def present_in(uow: UnitOfWork, request: Request, actor: Actor, record: CadreRecord) -> CadreOut:
        """For write answers: the PII read is logged in the write's own transaction."""
        unmasked = actor.has(PII)
        if unmasked:
            log_pii_read(uow, request, "cadre", record.id, pii_fields(record))
        return CadreOut.of(record, unmasked=unmasked)

    @cadres.post("", status_code=201, response_model=CadreOut)
    async def register_cadre(
        body: CadreCreate, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Register a cadre. The NIK must agree with birth date and sex and be issued in the
        configured region; a NIK already registered gives 409 (with `existing_cadre_id` for a
        `registry:pii` key only).
        Emits CadreRegistered, and CadreContactChanged / CadrePaymentDetailsChanged (encrypted,
        private topic) when contact or payment details are given."""

        async def op(uow: UnitOfWork) -> CadreOut:
            record = await handlers.register_cadre(uow, cfg, body)
            return present_in(uow, request, actor, record)

        return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))

    @cadres.get("", response_model=CadrePage)
    async def list_cadres(
        request: Request,
        name: str | None = Query(None, max_length=100, description="Part of the name"),
        posyandu_id: str | None = None,
        kelurahan_code: str | None = Query(None, examples=["64.71.06.1002"]),
        kecamatan_code: str | None = Query(None, examples=["64.71.06"]),
        status: str | None = Query(None, pattern="^(active|inactive)$"),
        role: str | None = Query(None, examples=["posyandu_cadre"]),
        page: int = Query(1, ge=1, le=MAX_PAGE),
        page_size: int = Query(50, ge=1, le=200),
        actor: Actor = Depends(require("registry:read")),
    ) -> CadrePage:
        """Search cadres by name, Posyandu, kelurahan, kecamatan, status, role (paginated).
        To search by NIK use POST /cadres/search (keeps the NIK out of URLs)."""
        f = queries.CadreFilter(None, name, posyandu_id, kelurahan_code, kecamatan_code, status, role)
        async with _runtime(request).sessions() as session:
            items, total = await queries.list_cadres(session, f, page, page_size)
        return CadrePage(items=await present(request, actor, items), total=total, page=page, page_size=page_size)

    @cadres.post("/search", response_model=CadrePage)
    async def search_cadres(
        body: CadreSearch, request: Request, actor: Actor = Depends(require("registry:read"))
    ) -> CadrePage:
        """The same search, with an exact NIK allowed (looked up by its hash) for a `registry:pii`
        key only: without it, a match would confirm a guessed NIK (403)."""
        if body.nik and not actor.has("registry:pii"):
            raise Forbidden("searching by NIK needs the scope 'registry:pii' (a match would confirm a guessed NIK)")
        f = queries.CadreFilter(
            nik_hash(body.nik, cfg.nik_pepper) if body.nik else None,
            body.name,
            body.posyandu_id,
            body.kelurahan_code,
            body.kecamatan_code,
            body.status,
            body.role,
        )
        async with _runtime(request).sessions() as session:
            items, total = await queries.list_cadres(session, f, body.page, body.page_size)
        return CadrePage(
            items=await present(request, actor, items), total=total, page=body.page, page_size=body.page_size
        )

    @cadres.get("/{cadre_id}", response_model=CadreOut)
    async def get_cadre(cadre_id: str, request: Request, actor: Actor = Depends(require("registry:read"))) -> CadreOut:
        """One cadre; NIK, contact and payment details unmasked only for `registry:pii` (logged)."""
        async with _runtime(request).uow() as uow:
            record = await handlers.get_cadre(uow, cadre_id)
        return (await present(request, actor, [record]))[0]

    @cadres.patch("/{cadre_id}", response_model=CadreOut)
    async def update_cadre(
        cadre_id: str, body: CadreUpdate, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Change a cadre. Emits CadreUpdated for public fields, CadreContactChanged /
        CadrePaymentDetailsChanged (private topic, encrypted) for contact / payment details."""

        async def op(uow: UnitOfWork) -> CadreOut:
            record = await handlers.update_cadre(uow, cfg, cadre_id, body)
            return present_in(uow, request, actor, record)

        return await execute_write(request, actor, op, body=body.model_dump(mode="json", exclude_unset=True))

    @cadres.post("/{cadre_id}/assignment", response_model=CadreOut)
    async def assign(
        cadre_id: str, body: CadreAssign, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """Assign the cadre to a Posyandu as primary, or transfer them (history kept).
        Emits CadreAssigned."""

        async def op(uow: UnitOfWork) -> CadreOut:
            return present_in(uow, request, actor, await handlers.assign_cadre(uow, cfg, cadre_id, body))

        return await execute_write(request, actor, op, body=body.model_dump(mode="json"))

    @cadres.get("/{cadre_id}/assignments", response_model=list[AssignmentOut])
    async def assignment_history(
        cadre_id: str, request: Request, _actor: Actor = Depends(require("registry:read"))
    ) -> list[AssignmentOut]:
        """The cadre's Posyandu assignments, oldest first (turnover never rewrites them)."""
        async with _runtime(request).uow() as uow:
            await handlers.get_cadre(uow, cadre_id)
            return [AssignmentOut.of(a) for a in await queries.assignments(uow.session, cadre_id)]

    @cadres.post("/{cadre_id}/deactivation", response_model=CadreOut)
    async def deactivate(
        cadre_id: str, body: CadreStatusChange, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """The cadre becomes inactive (reason required). Emits CadreDeactivated."""

        async def op(uow: UnitOfWork) -> CadreOut:
            return present_in(uow, request, actor, await handlers.deactivate_cadre(uow, cfg, cadre_id, body))

        return await execute_write(request, actor, op, body=body.model_dump(mode="json"))

    @cadres.post("/{cadre_id}/reactivation", response_model=CadreOut)
    async def reactivate(
        cadre_id: str, body: CadreStatusChange, request: Request, actor: Actor = Depends(require("registry:write"))
    ) -> JSONResponse:
        """An inactive cadre becomes active again. Emits CadreReactivated."""

        async def op(uow: UnitOfWork) -> CadreOut:
            return present_in(uow, request, actor, await handlers.reactivate_cadre(uow, cfg, cadre_id, body))

        return await execute_write(request, actor, op, body=body.model_dump(mode="json"))

    @cadres.post(
        "/import",
        response_model=ImportReport,
        openapi_extra=_csv_body(CADRE_CSV_EXAMPLE, CADRE_REQUIRED, CADRE_OPTIONAL),
    )
    async def import_cadres(request: Request, actor: Actor = Depends(require("registry:write"))) -> JSONResponse:
        """Bulk registration from a spreadsheet, with the same rules as POST /cadres. Each bad
        row is reported (line, field, reason); every good row is registered; a NIK already in
        the register is reported under `existing`, not registered twice. The Posyandu is named
        by posyandu_id, or by kelurahan_code + posyandu_name. A file that is not a CSV of these
        columns: 422, nothing changes."""
        raw = await _read_csv(request, cfg)
        with _runtime(request).relay.yielding_to_bulk():  # the import first, its events after
            parsed = await _parse(parse_cadres, raw, cfg)

            async def op(uow: UnitOfWork) -> dict[str, Any]:
                return await handlers.import_cadres(uow, cfg, parsed)

            return await execute_write(request, actor, op, body={"sha256": hashlib.sha256(raw).hexdigest()})

    # ------------------------------------------------------------------ statistics

    @stats.get("/mapping", response_model=MappingStatistics)
    async def mapping(request: Request, _actor: Actor = Depends(require("registry:read"))) -> dict[str, Any]:
        """The city's first question: per kecamatan and kelurahan, active Posyandu by facility
        status and by verification state, and active cadres."""
        async with _runtime(request).sessions() as session:
            return await queries.mapping_statistics(session, cfg.wilayah)

    # ------------------------------------------------------------------ audit per Posyandu

    audit = APIRouter(prefix="/audit", tags=["platform"])

    @audit.get("/posyandu/{posyandu_id}")
    async def posyandu_audit(
        posyandu_id: str,
        request: Request,
        after: int | None = Query(None, ge=0, le=2**63 - 1, description="Continue after this audit row id"),
        limit: int = Query(100, ge=1, le=1000),
        _actor: Actor = Depends(require("audit:read")),
    ) -> list[dict[str, Any]]:
        """Everything written about one Posyandu, oldest first: its own writes and every
        write to a cadre whose before or after state names it (including moves in and out).
        Who (client and key), when, what, before and after. Read-only, like /audit."""
        async with _runtime(request).uow() as uow:
            await handlers.get_posyandu(uow, posyandu_id)
            rows = await queries.posyandu_audit(uow.session, posyandu_id, after, limit)
        return [
            {
                "id": r.id,
                "at": utc(r.at),
                "actor_client": r.actor_client,
                "actor_key": r.actor_key,
                "action": r.action,
                "entity_type": r.entity_type,
                "entity_id": r.entity_id,
                "before": r.before,
                "after": r.after,
                "correlation_id": r.correlation_id,
            }
            for r in rows
        ]

    return [wilayah, posyandu, cadres, stats, audit]
