"""HTTP routes: parse, authorise, call a handler (writes through execute_write), shape
the answer. Public without a key: the catalogue, the level policy and verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from certification import handlers
from certification.adapters.printing import PrintableCertificate, certificate_html, certificate_pdf
from certification.config import CertificationConfig
from certification.schemas import (
    AssessmentCreate,
    AssessmentOutcome,
    CadreHistory,
    CadrePublic,
    CataloguePublic,
    CertificatePublic,
    ErrorBody,
    LevelPolicyPublic,
    LevelRulePublic,
    RevocationRequest,
    SkillGroupPublic,
    SkillPublic,
    SweepResult,
    TrainingCompletion,
    TrainingCreate,
    TrainingPublic,
    VerificationPublic,
)
from sikader_shared.auth import require
from sikader_shared.http import execute_write
from sikader_shared.ratelimit import public_route
from sikader_shared.service import ServiceRuntime
from sikader_shared.uow import Actor, UnitOfWork

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad API key"},
    403: {"model": ErrorBody, "description": "The key lacks the scope"},
    404: {"model": ErrorBody, "description": "Not found (e.g. a cadre no registry event has announced yet)"},
    409: {"model": ErrorBody, "description": "Refused in the current state (e.g. an inactive cadre)"},
    422: {"model": ErrorBody, "description": "Invalid input, with the field and reason"},
}
NUMBER_PATH = Path(description="Certificate number, e.g. SKD/6471/2026/MADYA/000123")


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def build_router(config: CertificationConfig) -> APIRouter:
    router = APIRouter()

    # ---------------------------------------------------------------- catalogue and policy

    @router.get("/skills", tags=["catalogue"], response_model=CataloguePublic)
    async def skill_catalogue() -> CataloguePublic:
        """The skill catalogue (public): five groups, their skills, codes and Indonesian names."""
        c = config.catalogue
        return CataloguePublic(
            version=c.version,
            title=c.title,
            source=c.source,
            groups=[
                SkillGroupPublic(
                    code=g.code, name=g.name, skills=[SkillPublic(code=s, name=c.skills[s].name) for s in g.skill_codes]
                )
                for g in c.groups
            ],
        )

    @router.get("/levels", tags=["catalogue"], response_model=LevelPolicyPublic)
    async def level_policy() -> LevelPolicyPublic:
        """The level rules in force (public) and the certificate validity."""
        return LevelPolicyPublic(
            version=config.policy.version,
            certificate_validity_years=config.validity_years,
            expiry_notice_days=config.notice_days,
            levels=[LevelRulePublic(**r.model_dump()) for r in config.policy.levels],
        )

    # ---------------------------------------------------------------- cadres

    @router.get("/cadres/{cadre_id}", tags=["cadres"], response_model=CadrePublic, responses=ERRORS)
    async def get_cadre(cadre_id: str, request: Request, _actor: Actor = Depends(require())) -> CadrePublic:
        """The cadre as certification knows it from the registry's events (any key)."""
        async with _runtime(request).sessions() as session:
            return await handlers.cadre_view(session, cadre_id)

    @router.get("/cadres/{cadre_id}/history", tags=["cadres"], response_model=CadreHistory, responses=ERRORS)
    async def cadre_history(cadre_id: str, request: Request, _actor: Actor = Depends(require())) -> CadreHistory:
        """Everything about one cadre in one call: trainings, assessments, badges, certificates."""
        async with _runtime(request).sessions() as session:
            return await handlers.history(session, config, cadre_id)

    # ---------------------------------------------------------------- trainings

    @router.post("/trainings", tags=["trainings"], status_code=201, response_model=TrainingPublic, responses=ERRORS)
    async def create_training(
        body: TrainingCreate, request: Request, actor: Actor = Depends(require("certification:train"))
    ) -> JSONResponse:
        """Plan a training with its participants (known, active cadres)."""

        async def op(uow: UnitOfWork) -> TrainingPublic:
            return await handlers.create_training(uow, config, body)

        return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))

    @router.get("/trainings/{training_id}", tags=["trainings"], response_model=TrainingPublic, responses=ERRORS)
    async def get_training(training_id: str, request: Request, _actor: Actor = Depends(require())) -> TrainingPublic:
        async with _runtime(request).sessions() as session:
            return await handlers.get_training(session, training_id)

    @router.post(
        "/trainings/{training_id}/completion", tags=["trainings"], response_model=TrainingPublic, responses=ERRORS
    )
    async def complete_training(
        training_id: str,
        body: TrainingCompletion,
        request: Request,
        actor: Actor = Depends(require("certification:train")),
    ) -> JSONResponse:
        """Record attendance: TrainingCompleted for each attendee; a refresher training
        renews each attendee's current certificate (CertificateRenewed)."""

        async def op(uow: UnitOfWork) -> TrainingPublic:
            return await handlers.complete_training(uow, config, training_id, body)

        return await execute_write(request, actor, op, status_code=200, body=body.model_dump(mode="json"))

    # ---------------------------------------------------------------- assessments

    @router.post(
        "/assessments", tags=["assessments"], status_code=201, response_model=AssessmentOutcome, responses=ERRORS
    )
    async def assess(
        body: AssessmentCreate, request: Request, actor: Actor = Depends(require("certification:assess"))
    ) -> JSONResponse:
        """Pass/fail per skill (SkillAssessed each; a pass is a badge). Reaching a level issues
        a certificate (CadreCertified), a higher one supersedes the old, a passed
        re-assessment at the same level renews it."""

        async def op(uow: UnitOfWork) -> AssessmentOutcome:
            return await handlers.record_assessment(uow, config, body)

        return await execute_write(request, actor, op, status_code=201, body=body.model_dump(mode="json"))

    # ---------------------------------------------------------------- certificates

    @router.get("/certificates", tags=["certificates"], response_model=list[CertificatePublic], responses=ERRORS)
    async def list_certificates(
        request: Request,
        cadre_id: str = Query(description="The holder (cadre id)"),
        _actor: Actor = Depends(require()),
    ) -> list[CertificatePublic]:
        async with _runtime(request).sessions() as session:
            return await handlers.certificates_for(session, config, cadre_id)

    @router.post(
        "/certificates/{certificate_id}/revoke",
        tags=["certificates"],
        response_model=CertificatePublic,
        responses=ERRORS,
    )
    async def revoke(
        certificate_id: str,
        body: RevocationRequest,
        request: Request,
        actor: Actor = Depends(require("certification:revoke")),
    ) -> JSONResponse:
        """Revoke a certificate for good, with a reason (CertificateRevoked)."""

        async def op(uow: UnitOfWork) -> CertificatePublic:
            return await handlers.revoke_certificate(uow, config, certificate_id, body.reason)

        return await execute_write(request, actor, op, status_code=200, body=body.model_dump(mode="json"))

    @router.post("/expiry-sweep", tags=["certificates"], response_model=SweepResult, responses=ERRORS)
    async def expiry_sweep(request: Request, actor: Actor = Depends(require("admin"))) -> JSONResponse:
        """Run the expiry scheduler's tick now (it also runs in the background)."""

        async def op(uow: UnitOfWork) -> SweepResult:
            return await handlers.run_expiry_sweep(uow, uow.clock.now(), config.notice_days)

        return await execute_write(request, actor, op, status_code=200)

    # Number-addressed routes last: a number contains slashes ({number:path}).

    @router.get(
        "/certificates/{number:path}/verify",
        tags=["verification"],
        dependencies=[Depends(public_route)],  # sequential numbers: limited per address
        response_model=VerificationPublic,
        responses={404: {"model": VerificationPublic, "description": "No such certificate (status 'unknown')"}},
    )
    async def verify(
        request: Request,
        number: str = NUMBER_PATH,
        code: str | None = Query(
            None, max_length=64, description="The check code of the certificate's QR code / printed URL"
        ),
    ) -> JSONResponse:
        """Public verification, no key needed: status (valid / expired / revoked / suspended /
        superseded / unknown), level and validity dates; with the certificate's check code (in
        its QR code and printed URL) also the holder's name, partly masked. Limited per client
        address (429 with Retry-After)."""
        runtime = _runtime(request)
        async with runtime.sessions() as session:
            out = await handlers.verify(session, number, runtime.clock.now(), code)
        return JSONResponse(out.model_dump(mode="json"), status_code=404 if out.status == "unknown" else 200)

    async def _printable(request: Request, number: str) -> PrintableCertificate:
        async with _runtime(request).sessions() as session:
            cert = await handlers.certificate_view(session, config, number)
        skills = [
            (code, config.catalogue.skills[code].name) for code in cert.skill_codes if code in config.catalogue.skills
        ]
        return PrintableCertificate(
            number=cert.number,
            holder_name=cert.holder_name,
            level=cert.level,
            status=cert.status,
            issued_on=cert.issued_on,
            expires_on=cert.expires_on,
            issuer=cert.issuer,
            skills=skills,
            verify_url=cert.verify_url,
        )

    @router.get(
        "/certificates/{number:path}.html",
        tags=["certificates"],
        response_class=HTMLResponse,
        responses={**ERRORS, 200: {"content": {"text/html": {}}, "description": "Printable certificate"}},
    )
    async def certificate_page(
        request: Request, number: str = NUMBER_PATH, _actor: Actor = Depends(require())
    ) -> HTMLResponse:
        """Printable certificate (HTML, any key: it shows the full name) with a QR code
        pointing at the public verification URL."""
        return HTMLResponse(certificate_html(await _printable(request, number)))

    @router.get(
        "/certificates/{number:path}.pdf",
        tags=["certificates"],
        response_class=Response,
        responses={**ERRORS, 200: {"content": {"application/pdf": {}}, "description": "Printable certificate (PDF)"}},
    )
    async def certificate_document(
        request: Request, number: str = NUMBER_PATH, _actor: Actor = Depends(require())
    ) -> Response:
        """Printable certificate (PDF, any key) with a QR code pointing at the verification URL."""
        printable = await _printable(request, number)
        filename = printable.number.replace("/", "-") + ".pdf"
        return Response(
            certificate_pdf(printable),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{filename}"'},
        )

    return router
