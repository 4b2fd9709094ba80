"""The input events (registry and certification facts, payment details): applied a batch at
a time in the consumer's transaction (set-based) to the projections, then the cadres they
concern are decided again for the open period; a changed outcome is announced."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from incentives.adapters import store
from incentives.adapters.tables import LiveEligibilityRow
from incentives.config import IncentivesConfig
from incentives.domain import facts as fx
from incentives.domain.periods import Period, PeriodState
from incentives.domain.policy import Policy, policy_for
from incentives.domain.rules import Decision, evaluate, explain
from incentives.handlers.periods import CLOSED_STATES, current_period
from incentives.handlers.policies import RECOMPUTE_ALL
from sikader_shared import events as ev
from sikader_shared.clock import utc
from sikader_shared.crypto import require_cipher
from sikader_shared.envelope import Envelope
from sikader_shared.inbox import BatchHandler
from sikader_shared.uow import UnitOfWork

Input = tuple[ev.Event, Envelope]
CADRE, POSYANDU, CERTIFICATE, PAYMENT = "cadre", "posyandu", "certificate", "payment"
INPUT_KIND: dict[type[ev.Event], str] = {
    **dict.fromkeys(fx.CADRE_EVENTS, CADRE),
    **dict.fromkeys(fx.POSYANDU_EVENTS, POSYANDU),
    **dict.fromkeys(fx.CERTIFICATE_EVENTS, CERTIFICATE),
    ev.CadrePaymentDetailsChanged: PAYMENT,
}


def event_handlers(config: IncentivesConfig) -> dict[type[ev.Event], Any]:
    """Every input event is applied in the consumer's transaction, a run of a batch at a
    time (set-based): the projections first, then the decisions of the cadres concerned."""

    async def apply(uow: UnitOfWork, items: list[Input]) -> None:
        for event, _ in items:
            if type(event) is ev.CadrePaymentDetailsChanged:
                # Fail here (-> retries, then the DLQ to re-drive once the key is fixed) rather
                # than discover at payment time that the details cannot be read.
                cipher = require_cipher(config.payment_cipher, "payment")
                for token in (event.bank_enc, event.account_number_enc, event.account_holder_enc):
                    cipher.decrypt(token)
        await apply_inputs(uow, items)

    return dict.fromkeys(INPUT_KIND, BatchHandler(apply))


@dataclass
class Applied:
    """What a run of input events changed, and what must be decided again."""

    cadres: set[str] = field(default_factory=set)
    certificates: set[str] = field(default_factory=set)
    posyandu: set[str] = field(default_factory=set)
    payments: list[fx.PaymentDetails] = field(default_factory=list)
    touched_posyandu: set[str] = field(default_factory=set)
    cause: dict[str, Envelope] = field(default_factory=dict)  # aggregate -> its latest event (by time)

    def caused(self, aggregate_id: str, env: Envelope) -> None:
        # A batch mixes topics (a cadre's registration and its certificate may come in either
        # order): the announcement names the most recent fact, not the last one read.
        if aggregate_id not in self.cause or env.time >= self.cause[aggregate_id].time:
            self.cause[aggregate_id] = env


async def apply_inputs(uow: UnitOfWork, items: Sequence[Input], *, recompute_all: bool = False) -> None:
    """Applies input events (in order) to the projections, then re-decides the cadres they
    concern for the open period."""
    session = uow.session
    await store.prefer_custom_plans(session)
    # Dispatch on type(): isinstance on pydantic models goes through ABCMeta (slow per event).
    kinds: list[tuple[str | None, Any, Envelope]] = [(INPUT_KIND.get(type(e)), e, env) for e, env in items]
    cadre_ids = {e.cadre_id for k, e, _ in kinds if k in (CADRE, CERTIFICATE)}
    cadres = await store.load_cadres(session, {e.cadre_id for k, e, _ in kinds if k == CADRE})
    certs = await store.load_certificates(session, {e.certificate_id for k, e, _ in kinds if k == CERTIFICATE})
    posy = await store.load_posyandu(session, {e.posyandu_id for k, e, _ in kinds if k == POSYANDU})
    applied = _fold(kinds, cadres, certs, posy)

    # One table order and id order within each (see store.lock_decisions).
    await store.save_cadres(session, (cadres[i] for i in applied.cadres))
    await store.save_posyandu(session, (posy[i] for i in applied.posyandu))
    await store.save_certificates(session, (certs[i] for i in applied.certificates))
    await store.save_payment_details(session, applied.payments)

    await store.lock_decisions(session)
    # Cadres decide together with the other cadres of their Posyandu (the cap ranks them).
    # Read again under the lock: another instance may have assigned or created them since.
    lone: set[str] = set()
    for c in (await store.load_cadres(session, cadre_ids)).values():
        if c.posyandu_id:
            applied.touched_posyandu.add(c.posyandu_id)
        else:
            lone.add(c.cadre_id)
    if recompute_all:
        applied.touched_posyandu |= await store.all_posyandu_ids(session)
        lone |= await store.unassigned_cadre_ids(session)
    await recompute_live(uow, applied.touched_posyandu, lone, applied.cause)


def _fold(
    kinds: list[tuple[str | None, Any, Envelope]],
    cadres: dict[str, fx.CadreFacts],
    certs: dict[str, fx.CertificateFacts],
    posy: dict[str, fx.PosyanduFacts],
) -> Applied:
    """Folds the events into the loaded facts (in place), in order."""
    applied = Applied()
    for kind, event, env in kinds:
        if kind == CADRE:
            before = cadres.get(event.cadre_id)
            cadres[event.cadre_id] = fx.apply_cadre_event(before, event, env)
            applied.cadres.add(event.cadre_id)
            if before is not None and before.posyandu_id:
                applied.touched_posyandu.add(before.posyandu_id)  # a transfer frees a place under the old cap
            applied.caused(event.cadre_id, env)
        elif kind == POSYANDU:
            posy[event.posyandu_id] = fx.apply_posyandu_event(posy.get(event.posyandu_id), event, env)
            applied.posyandu.add(event.posyandu_id)
            applied.touched_posyandu.add(event.posyandu_id)
            applied.caused(event.posyandu_id, env)
        elif kind == CERTIFICATE:
            certs[event.certificate_id] = fx.apply_certificate_event(certs.get(event.certificate_id), event, env)
            applied.certificates.add(event.certificate_id)
            applied.caused(event.cadre_id, env)
        elif kind == PAYMENT:
            applied.payments.append(fx.apply_payment_details(event, env))
    return applied


async def project_staged(uow: UnitOfWork, limit: int = 2000) -> int:
    """Applies up to `limit` staged inputs in order: internal requests (a recompute after a
    new policy) and events staged by earlier versions of the service. Returns how many."""
    session = uow.session
    if not await store.try_lock_projector(session):
        return 0  # another projector is at it; it will see these
    staged = await store.staged_inputs(session, limit)
    if not staged:
        return 0
    items: list[Input] = []
    recompute_all = False
    for s in staged:
        model = ev.model_for(s.ce_type)
        if model is None:
            recompute_all = recompute_all or s.ce_type == RECOMPUTE_ALL
            continue
        env = Envelope(
            id=s.event_id,
            source="",
            type=s.ce_type,
            time=utc(s.event_time),
            subject="",
            actor=s.actor,
            correlation_id=s.correlation_id or s.event_id,
            causation_id=s.event_id,
        )
        items.append((model.model_validate(s.payload), env))
    await store.drop_staged(session, staged[-1].seq)
    await apply_inputs(uow, items, recompute_all=recompute_all)
    return len(staged)


# --------------------------------------------------------------------------- live decisions


async def recompute_live(
    uow: UnitOfWork, posyandu_ids: set[str], lone_cadre_ids: set[str], cause: dict[str, Envelope]
) -> int:
    """Re-decides the given cadres (and every cadre of the given Posyandu) for the open
    period; announces IncentiveEligibilityChanged only where the outcome changed."""
    if not posyandu_ids and not lone_cadre_ids:
        return 0
    session = uow.session
    period = current_period(uow)
    state, policies = await store.live_terms(session, str(period))
    if state in CLOSED_STATES:
        return 0  # an approved period changes only by payments: late facts become corrections
    policy = policy_for(policies, str(period))
    calculated = state == PeriodState.CALCULATED.value
    changed = 0
    for part in store.chunks(sorted(posyandu_ids), 2000):  # bounded memory for a recompute of all
        cadres = await store.load_cadres_at(session, part)
        changed += await _decide_and_announce(uow, period, policy, cadres, cause, calculated)
    if lone_cadre_ids:
        lone = [c for c in (await store.load_cadres(session, lone_cadre_ids)).values() if not c.posyandu_id]
        changed += await _decide_and_announce(uow, period, policy, lone, cause, calculated)
    return changed


async def _decide_and_announce(
    uow: UnitOfWork,
    period: Period,
    policy: Policy,
    cadres: list[fx.CadreFacts],
    cause: dict[str, Envelope],
    calculated: bool = False,
) -> int:
    if not cadres:
        return 0
    session = uow.session
    posy = await store.load_posyandu(session, {c.posyandu_id for c in cadres if c.posyandu_id})
    certs = await store.load_certificates_of(session, [c.cadre_id for c in cadres])
    decisions = evaluate(cadres, posy, certs, period, policy, apply_budget=False)
    if calculated:
        stored = await store.calculated_outcomes(session, str(period), [d.cadre_id for d in decisions], policy)
        # Another set of cadres, eligibility or amount before the budget rule than calculated.
        if any(stored.get(d.cadre_id) != d.before_budget(policy) for d in decisions):
            await store.mark_needs_recalculation(session, str(period))
    live = {r[0]: (bool(r[1]), int(r[2])) for r in await store.live_decisions(session, [d.cadre_id for d in decisions])}
    now = uow.clock.now()
    upserts: list[dict[str, Any]] = []
    for d in decisions:
        prev = live.get(d.cadre_id)
        if prev is None and not d.eligible:
            continue  # nothing announced yet and nothing to announce: not eligible is the default
        if prev is not None and prev == (d.eligible, d.amount):
            continue
        upserts.append(_announce(uow, d, period, policy, prev, cause, now))
    await store.upsert(session, LiveEligibilityRow, sorted(upserts, key=lambda u: u["cadre_id"]), ["cadre_id"])
    return len(upserts)


def _announce(
    uow: UnitOfWork,
    d: Decision,
    period: Period,
    policy: Policy,
    prev: tuple[bool, int] | None,
    cause: dict[str, Envelope],
    now: datetime,
) -> dict[str, Any]:
    """Announces a changed outcome (caused by the latest event about the cadre or its
    Posyandu); returns the live decision's row."""
    env = cause.get(d.cadre_id) or (cause.get(d.posyandu_id) if d.posyandu_id else None)
    uow.causation_id = env.id if env else None
    uow.correlation_id = env.correlation_id if env else None
    out = uow.emit(
        ev.IncentiveEligibilityChanged(
            cadre_id=d.cadre_id,
            period=str(period),
            eligible=d.eligible,
            amount=d.amount,
            policy_version=policy.version,
            reasons=event_reasons(d, period, policy, budget_applied=False),
            level=d.level_used,
            posyandu_id=d.posyandu_id,
            kelurahan_code=d.kelurahan_code or None,
            kecamatan_code=d.kecamatan_code or None,
            previous_eligible=prev[0] if prev else None,
            previous_amount=prev[1] if prev else None,
            decided_at=now,
        )
    )
    return {
        "cadre_id": d.cadre_id,
        "period": str(period),
        "eligible": d.eligible,
        "amount": d.amount,
        "policy_version": policy.version,
        "decided_at": now,
        "event_id": out.id,
    }


def event_reasons(d: Decision, period: Period, policy: Policy, *, budget_applied: bool) -> list[ev.EligibilityReason]:
    return [
        ev.EligibilityReason(
            rule=r.rule, passed=r.passed, fact=r.fact_en, fact_id=r.fact_id, source_event_ids=list(r.source_event_ids)
        )
        for r in explain(d, period, policy, budget_applied=budget_applied)
    ]
