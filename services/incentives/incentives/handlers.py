"""One function per command or event: load, call the domain, save through the unit of work,
emit. Input events are applied a batch at a time in the consumer's transaction (set-based),
which then re-decides the affected cadres for the open period."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, text
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import calculation as calc
from incentives.adapters import store
from incentives.adapters.tables import (
    CadreRow,
    LiveEligibilityRow,
    PaymentAttemptRow,
    PaymentBatchRow,
    PaymentDetailsRow,
    PaymentRow,
    PeriodRow,
    PolicyVersionRow,
    PosyanduRow,
    StagedInput,
)
from incentives.domain import facts as fx
from incentives.domain.payments import (
    NO_PAYMENT_DETAILS,
    PaymentLine,
    ResultFileInvalid,
    parse_result_file,
    payment_file,
    payment_reference,
)
from incentives.domain.periods import (
    Action,
    DutiesNotSegregated,
    Period,
    PeriodState,
    TransitionRefused,
    check_segregation,
    check_transition,
)
from incentives.domain.policy import Policy, PolicyInvalid, policy_for, validate_terms
from incentives.domain.rules import Decision, evaluate, explain, finish_hash
from sikader_shared import events as ev
from sikader_shared.bulk import driver_connection
from sikader_shared.clock import utc
from sikader_shared.crypto import FieldCipher
from sikader_shared.envelope import Envelope
from sikader_shared.errors import Conflict, Forbidden, Invalid, NotFound
from sikader_shared.inbox import BatchHandler
from sikader_shared.uow import UnitOfWork

RECOMPUTE_ALL = "internal.incentives.RecomputeAll"
PROJECTOR_LOCK = 5_100_317  # pg advisory lock key: one projector at a time per database
DECIDE_LOCK = 5_100_318  # pg advisory lock key: one deciding transaction at a time per database
CLOSED_STATES = {PeriodState.APPROVED.value, PeriodState.PAID.value, PeriodState.CLOSED.value}


def current_period(uow: UnitOfWork) -> Period:
    return Period.of(uow.clock.now())


def parse_period(text_: str) -> Period:
    try:
        return Period.parse(text_)
    except ValueError as exc:
        raise Invalid(str(exc), field="period") from exc


def refuse(exc: TransitionRefused) -> Conflict:
    return Conflict(str(exc), period=exc.period, state=exc.state.value, action=exc.action.value, reason=exc.reason)


# =========================================================================== input events

Input = tuple[ev.Event, Envelope]
CADRE, POSYANDU, CERTIFICATE, PAYMENT = "cadre", "posyandu", "certificate", "payment"
INPUT_KIND: dict[type[ev.Event], str] = {
    **dict.fromkeys(fx.CADRE_EVENTS, CADRE),
    **dict.fromkeys(fx.POSYANDU_EVENTS, POSYANDU),
    **dict.fromkeys(fx.CERTIFICATE_EVENTS, CERTIFICATE),
    ev.CadrePaymentDetailsChanged: PAYMENT,
}


def make_event_handlers(cipher: Callable[[], FieldCipher]) -> dict[type[ev.Event], Any]:
    """Every input event is applied in the consumer's transaction, a run of a batch at a
    time (set-based): the projections first, then the decisions of the cadres concerned."""

    async def apply(uow: UnitOfWork, items: list[Input]) -> None:
        for event, _ in items:
            if isinstance(event, ev.CadrePaymentDetailsChanged):
                # Fail here (-> retries, then the DLQ to re-drive once the key is fixed) rather
                # than discover at payment time that the details cannot be read.
                c = cipher()
                for token in (event.bank_enc, event.account_number_enc, event.account_holder_enc):
                    c.decrypt(token)
        await apply_inputs(uow, items)

    return dict.fromkeys(INPUT_KIND, BatchHandler(apply))


async def lock_decisions(session: AsyncSession) -> None:
    """On PostgreSQL, one transaction at a time decides (per database), so that instances
    consuming in parallel never decide on each other's uncommitted facts nor announce one
    change twice. Taken after the transaction's projection writes (made in id order): the
    holder writes only decisions and outbox rows, which nobody writes without the lock, so
    waiting for it cannot deadlock. SQLite has a single writer anyway."""
    driver = await driver_connection(session)
    if driver is not None:
        await driver.execute("SELECT pg_advisory_xact_lock($1)", DECIDE_LOCK)


async def apply_inputs(uow: UnitOfWork, items: Sequence[Input], *, recompute_all: bool = False) -> None:
    """Applies input events (in order) to the projections, then re-decides the cadres they
    concern for the open period."""
    session = uow.session
    driver = await driver_connection(session)
    if driver is not None:
        # The lookups below take id arrays of a batch's size. A prepared statement's generic
        # plan, made while a table was small, scans it whole for every id (measured: 200 ms
        # a batch at 10,000 rows, growing with the table); a custom plan probes the index.
        await driver.execute("SET LOCAL plan_cache_mode = force_custom_plan")
    # Dispatch on type(): isinstance on pydantic models goes through ABCMeta (slow per event).
    kinds: list[tuple[str | None, Any, Envelope]] = [(INPUT_KIND.get(type(e)), e, env) for e, env in items]
    cadre_ids = {e.cadre_id for k, e, _ in kinds if k in (CADRE, CERTIFICATE)}
    cadres = await store.load_cadres(session, {e.cadre_id for k, e, _ in kinds if k == CADRE})
    certs = await store.load_certificates(session, {e.certificate_id for k, e, _ in kinds if k == CERTIFICATE})
    posy = await store.load_posyandu(session, {e.posyandu_id for k, e, _ in kinds if k == POSYANDU})

    changed_cadres: set[str] = set()
    changed_certs: set[str] = set()
    changed_posy: set[str] = set()
    payments: list[fx.PaymentDetails] = []
    touched_posyandu: set[str] = set()
    cause: dict[str, Envelope] = {}  # aggregate -> the latest event (by its time) that touched it

    def caused(aggregate_id: str, env: Envelope) -> None:
        # A batch mixes topics (a cadre's registration and its certificate may come in either
        # order): the announcement names the most recent fact, not the last one read.
        if aggregate_id not in cause or env.time >= cause[aggregate_id].time:
            cause[aggregate_id] = env

    for kind, event, env in kinds:
        if kind == CADRE:
            before = cadres.get(event.cadre_id)
            cadres[event.cadre_id] = fx.apply_cadre_event(before, event, env)
            changed_cadres.add(event.cadre_id)
            if before is not None and before.posyandu_id:
                touched_posyandu.add(before.posyandu_id)  # a transfer frees a place under the old cap
            caused(event.cadre_id, env)
        elif kind == POSYANDU:
            posy[event.posyandu_id] = fx.apply_posyandu_event(posy.get(event.posyandu_id), event, env)
            changed_posy.add(event.posyandu_id)
            touched_posyandu.add(event.posyandu_id)
            caused(event.posyandu_id, env)
        elif kind == CERTIFICATE:
            certs[event.certificate_id] = fx.apply_certificate_event(certs.get(event.certificate_id), event, env)
            changed_certs.add(event.certificate_id)
            caused(event.cadre_id, env)
        elif kind == PAYMENT:
            payments.append(fx.apply_payment_details(event, env))

    # One table order and id order within each (see lock_decisions).
    await store.save_cadres(session, (cadres[i] for i in changed_cadres))
    await store.save_posyandu(session, (posy[i] for i in changed_posy))
    await store.save_certificates(session, (certs[i] for i in changed_certs))
    await store.save_payment_details(session, payments)

    await lock_decisions(session)
    # Cadres decide together with the other cadres of their Posyandu (the cap ranks them).
    # Read again under the lock: another instance may have assigned or created them since.
    lone: set[str] = set()
    for c in (await store.load_cadres(session, cadre_ids)).values():
        if c.posyandu_id:
            touched_posyandu.add(c.posyandu_id)
        else:
            lone.add(c.cadre_id)
    if recompute_all:
        touched_posyandu |= set((await session.execute(select(PosyanduRow.posyandu_id))).scalars())
        lone |= set(
            (await session.execute(select(CadreRow.cadre_id).where(col(CadreRow.posyandu_id).is_(None)))).scalars()
        )
    await recompute_live(uow, touched_posyandu, lone, cause)


async def project_staged(uow: UnitOfWork, limit: int = 2000) -> int:
    """Applies up to `limit` staged inputs in order: internal requests (a recompute after a
    new policy) and events staged by earlier versions of the service. Returns how many."""
    session = uow.session
    if calc.dialect_of(session) == "postgresql":
        # One projector at a time consumes staged rows; a busy one will see these next time.
        got = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": PROJECTOR_LOCK})
        if not got:
            return 0
    t = StagedInput.__table__  # type: ignore[attr-defined]
    staged = (
        await session.execute(
            sa_select(t.c.seq, t.c.event_id, t.c.ce_type, t.c.event_time, t.c.correlation_id, t.c.actor, t.c.payload)
            .order_by(t.c.seq)
            .limit(limit)
        )
    ).all()
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
    await session.execute(delete(StagedInput).where(col(StagedInput.seq) <= staged[-1].seq))
    await apply_inputs(uow, items, recompute_all=recompute_all)
    return len(staged)


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
    if calculated and await _differs_from_calculation(session, period, decisions, policy):
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
        upserts.append(
            {
                "cadre_id": d.cadre_id,
                "period": str(period),
                "eligible": d.eligible,
                "amount": d.amount,
                "policy_version": policy.version,
                "decided_at": now,
                "event_id": out.id,
            }
        )
    await store.upsert(session, LiveEligibilityRow, sorted(upserts, key=lambda u: u["cadre_id"]), ["cadre_id"])
    return len(upserts)


async def _differs_from_calculation(
    session: AsyncSession, period: Period, decisions: list[Decision], policy: Policy
) -> bool:
    """A live decision (no budget rule) against the period's stored calculation: another set of
    cadres, another eligibility or another amount before the budget rule."""
    stored = await store.calculated_outcomes(session, str(period), [d.cadre_id for d in decisions], policy)
    return any(stored.get(d.cadre_id) != d.before_budget(policy) for d in decisions)


def event_reasons(d: Decision, period: Period, policy: Policy, *, budget_applied: bool) -> list[ev.EligibilityReason]:
    return [
        ev.EligibilityReason(
            rule=r.rule, passed=r.passed, fact=r.fact_en, fact_id=r.fact_id, source_event_ids=list(r.source_event_ids)
        )
        for r in explain(d, period, policy, budget_applied=budget_applied)
    ]


# =========================================================================== policy


async def create_policy(
    uow: UnitOfWork,
    *,
    effective_from: str,
    amounts: dict[str, int],
    requirements: Iterable[str],
    cap_per_posyandu: int | None,
    budget_ceiling: int | None,
    note: str,
) -> PolicyVersionRow:
    """A new version, effective from a period; versions are never edited."""
    session = uow.session
    parse_period(effective_from)
    try:
        reqs = validate_terms(amounts, requirements, cap_per_posyandu, budget_ceiling)
    except PolicyInvalid as exc:
        raise Invalid(str(exc), field=exc.field_name) from exc
    decided = (
        (
            await session.execute(
                select(PeriodRow.period)
                .where(col(PeriodRow.period) >= effective_from, col(PeriodRow.state).in_(CLOSED_STATES))
                .order_by(col(PeriodRow.period))
            )
        )
        .scalars()
        .first()
    )
    if decided is not None:
        raise Conflict(
            f"a policy cannot take effect from {effective_from}: period {decided} is already approved "
            "(choose a later period)",
            field="effective_from",
            approved_period=decided,
        )
    sequence = int(await session.scalar(select(func.coalesce(func.max(PolicyVersionRow.sequence), 0))) or 0) + 1
    row = PolicyVersionRow(
        version=f"v{sequence}",
        sequence=sequence,
        effective_from=effective_from,
        amounts={k: int(amounts[k]) for k in sorted(amounts)},
        requirements=list(reqs),
        cap_per_posyandu=cap_per_posyandu,
        budget_ceiling=budget_ceiling,
        note=note,
        created_at=uow.clock.now(),
        created_by=uow.actor.client_id,
    )
    session.add(row)
    uow.audit("policy.create", "policy", row.version, None, policy_dict(row))
    if effective_from <= str(current_period(uow)):
        # The open period may follow other rules now: let the projector re-decide everyone.
        session.add(
            StagedInput(
                event_id=str(uuid.uuid4()),
                ce_type=RECOMPUTE_ALL,
                event_time=uow.clock.now(),
                actor=uow.actor.client_id,
                payload={"policy_version": row.version},
            )
        )
    return row


def policy_dict(row: PolicyVersionRow) -> dict[str, Any]:
    return {
        "version": row.version,
        "effective_from": row.effective_from,
        "amounts": row.amounts,
        "requirements": row.requirements,
        "cap_per_posyandu": row.cap_per_posyandu,
        "budget_ceiling": row.budget_ceiling,
        "note": row.note,
        "created_at": utc(row.created_at).isoformat(),
        "created_by": row.created_by,
    }


# =========================================================================== periods


async def calculate(uow: UnitOfWork, period_text: str, *, correction_lookback: int = 3) -> PeriodRow:
    """Decides every cadre for the period (set-based), adds corrections of recently approved
    periods and carried-over failed payments, stores the decision set's hash."""
    session = uow.session
    period = parse_period(period_text)
    if period > current_period(uow):
        raise Invalid(f"period {period} has not started yet (periods are calendar months in WITA)", field="period")
    row = await store.period_row(session, str(period), lock=True)
    try:
        check_transition(str(period), Action.CALCULATE, PeriodState(row.state))
    except TransitionRefused as exc:
        raise refuse(exc) from exc
    all_policies = await store.policies(session)
    policy = policy_for(all_policies, str(period))
    before = period_public(row)

    await calc.insert_decisions(session, period, policy)

    # Adjustments of this period: start again from scratch on a recalculation.
    await session.execute(text("DELETE FROM adjustments WHERE in_period = :p"), {"p": str(period)})
    await session.execute(text("UPDATE payments SET carried_to = NULL WHERE carried_to = :p"), {"p": str(period)})
    earlier = (
        (
            await session.execute(
                select(PeriodRow).where(col(PeriodRow.period) < str(period), col(PeriodRow.state).in_(CLOSED_STATES))
            )
        )
        .scalars()
        .all()
    )
    oldest = period
    for _ in range(correction_lookback):
        oldest = oldest.previous()
    by_version = {p.version: p for p in all_policies}
    for earlier_row in sorted(earlier, key=lambda r: r.period):
        if earlier_row.period >= str(oldest) and earlier_row.policy_version in by_version:
            await calc.insert_corrections(
                session, period, Period.parse(earlier_row.period), by_version[earlier_row.policy_version]
            )
    closed = [r.period for r in earlier if r.state == PeriodState.CLOSED.value]
    await calc.insert_carry_overs(session, period, closed)

    header = f"{period}|{policy.version}"
    h = await calc.decision_lines_digest(session, str(period), header)
    digest = finish_hash(h, await calc.adjustment_lines(session, str(period)))
    totals = await kecamatan_totals(uow, str(period))
    summary = (
        await session.execute(
            text(
                "SELECT COUNT(*), SUM(CASE WHEN eligible THEN 1 ELSE 0 END), COALESCE(SUM(amount), 0) "
                "FROM decisions WHERE period = :p"
            ),
            {"p": str(period)},
        )
    ).one()
    corrections = int(
        await session.scalar(text("SELECT COUNT(*) FROM adjustments WHERE in_period = :p"), {"p": str(period)}) or 0
    )
    now = uow.clock.now()
    row.state = PeriodState.CALCULATED.value
    row.needs_recalculation = False
    row.policy_version = policy.version
    row.decision_hash = digest
    row.cadres_evaluated = int(summary[0] or 0)
    row.eligible_cadres = int(summary[1] or 0)
    row.total_amount = int(summary[2] or 0)
    row.budget_ceiling = policy.budget_ceiling
    row.corrections = corrections
    row.calculation_count += 1
    row.calculated_by_client = uow.actor.client_id
    row.calculated_by_key = uow.actor.key_id
    row.calculated_at = now
    session.add(row)
    uow.emit(
        ev.IncentivePeriodCalculated(
            period=str(period),
            policy_version=policy.version,
            decision_hash=digest,
            cadres_evaluated=row.cadres_evaluated,
            eligible_cadres=row.eligible_cadres,
            total_amount=row.total_amount,
            budget_ceiling=policy.budget_ceiling,
            totals_by_kecamatan=[ev.AreaTotal(**t) for t in totals],
            calculated_by=uow.actor.client_id,
            calculated_at=now,
        )
    )
    uow.audit("period.calculate", "period", str(period), before, period_public(row))
    return row


async def kecamatan_totals(uow: UnitOfWork, period: str) -> list[dict[str, Any]]:
    rows = await uow.session.execute(
        text(
            "SELECT kecamatan_code, SUM(CASE WHEN eligible THEN 1 ELSE 0 END), COALESCE(SUM(amount), 0) "
            "FROM decisions WHERE period = :p GROUP BY kecamatan_code ORDER BY kecamatan_code"
        ),
        {"p": period},
    )
    return [
        {"kecamatan_code": k, "eligible_cadres": int(n or 0), "total_amount": int(a or 0)} for k, n, a in rows.all()
    ]


async def _locked_period(uow: UnitOfWork, period_text: str, action: Action) -> PeriodRow:
    period = parse_period(period_text)
    row = await store.period_row(uow.session, str(period), lock=True)
    try:
        check_transition(str(period), action, PeriodState(row.state))
    except TransitionRefused as exc:
        raise refuse(exc) from exc
    return row


async def approve(uow: UnitOfWork, period_text: str, decision_hash: str | None) -> PeriodRow:
    """Four eyes: neither the key nor the OPD client that calculated may approve. The
    approver may name the hash they reviewed; a recalculation since then is refused."""
    row = await _locked_period(uow, period_text, Action.APPROVE)
    try:
        check_segregation(row.calculated_by_client, row.calculated_by_key, uow.actor.client_id, uow.actor.key_id)
    except DutiesNotSegregated as exc:
        raise Forbidden(str(exc), calculated_by=row.calculated_by_client) from exc
    if decision_hash is not None and decision_hash != row.decision_hash:
        raise Conflict(
            "the period was recalculated since the reviewed decision set: review it again",
            field="decision_hash",
            current_hash=row.decision_hash,
        )
    if row.needs_recalculation:
        why = (
            "the live eligibility decisions no longer match this calculation (a cadre, her eligibility or her "
            "amount changed since it was calculated): calculate the period again, review it, then approve"
        )
        raise Conflict(why, period=row.period, state=row.state, action="approve", reason=why, needs_recalculation=True)
    before = period_public(row)
    session = uow.session
    # What each cadre is owed: the decision plus positive corrections and carried-over payments.
    await session.execute(
        text(
            "INSERT INTO payments (period, cadre_id, amount, status, attempts) "
            "SELECT CAST(:p AS VARCHAR(7)), cadre_id, SUM(amount), 'pending', 0 FROM ("
            "  SELECT cadre_id, amount FROM decisions WHERE period = :p AND eligible AND amount > 0"
            "  UNION ALL"
            "  SELECT cadre_id, delta AS amount FROM adjustments WHERE in_period = :p AND delta > 0"
            ") x GROUP BY cadre_id"
        ),
        {"p": row.period},
    )
    now = uow.clock.now()
    row.state = PeriodState.APPROVED.value
    row.approved_by_client = uow.actor.client_id
    row.approved_by_key = uow.actor.key_id
    row.approved_at = now
    session.add(row)
    uow.emit(
        ev.IncentivePeriodApproved(
            period=row.period,
            policy_version=row.policy_version or "",
            decision_hash=row.decision_hash or "",
            eligible_cadres=row.eligible_cadres,
            total_amount=row.total_amount,
            calculated_by=row.calculated_by_client or "",
            approved_by=uow.actor.client_id,
            approved_at=now,
        )
    )
    uow.audit("period.approve", "period", row.period, before, period_public(row))
    return row


async def _payment_counts(uow: UnitOfWork, period: str) -> dict[str, int]:
    rows = await uow.session.execute(
        text("SELECT status, COUNT(*) FROM payments WHERE period = :p AND carried_to IS NULL GROUP BY status"),
        {"p": period},
    )
    return {s: int(n) for s, n in rows.all()}


async def _maybe_paid(uow: UnitOfWork, row: PeriodRow) -> None:
    """approved -> paid once the bank has answered for every payment (paid or failed)."""
    counts = await _payment_counts(uow, row.period)
    if row.state == PeriodState.APPROVED.value and not counts.get("pending") and not counts.get("in_batch"):
        row.state = PeriodState.PAID.value
        row.paid_at = uow.clock.now()
        uow.session.add(row)
        uow.audit("period.paid", "period", row.period, None, {"payments": counts})


def _payment_recorded(uow: UnitOfWork, a: PaymentAttemptRow, result: str, reason: str | None, paid_on: Any) -> None:
    uow.emit(
        ev.IncentivePaymentRecorded(
            cadre_id=a.cadre_id,
            period=a.period,
            payment_reference=a.reference,
            amount=a.amount,
            result=result,
            failure_reason=reason,
            paid_on=paid_on,
            batch_id=a.batch_id,
            recorded_at=uow.clock.now(),
        )
    )


async def export_batch(uow: UnitOfWork, period_text: str) -> PaymentBatchRow:
    """A new payment batch with every payment not yet paid (first time or failed before).
    Cadres without payment details fail at once (announced, so they can be asked for them)."""
    row = await _locked_period(uow, period_text, Action.EXPORT_PAYMENTS)
    session = uow.session
    c = calc.collate(calc.dialect_of(session))
    due = (
        (
            await session.execute(
                select(PaymentRow)
                .where(
                    col(PaymentRow.period) == row.period,
                    col(PaymentRow.status).in_(["pending", "failed"]),
                    col(PaymentRow.carried_to).is_(None),
                )
                .order_by(text(f"cadre_id{c}"))
            )
        )
        .scalars()
        .all()
    )
    if not due:
        raise Conflict(f"nothing left to pay for period {row.period}", period=row.period)
    number = int(await session.scalar(select(func.count()).where(col(PaymentBatchRow.period) == row.period)) or 0) + 1
    batch_id = str(uuid.uuid4())
    ids = [p.cadre_id for p in due]
    details: dict[str, PaymentDetailsRow] = {}
    names: dict[str, str] = {}
    for part in store.chunks(ids):
        details.update(
            {
                d.cadre_id: d
                for d in (
                    await session.execute(select(PaymentDetailsRow).where(col(PaymentDetailsRow.cadre_id).in_(part)))
                ).scalars()
            }
        )
        names.update({k: v.name for k, v in (await store.load_cadres(session, part)).items()})
    now = uow.clock.now()
    total = without = 0
    for n, p in enumerate(due, start=1):
        d = details.get(p.cadre_id)
        a = PaymentAttemptRow(
            reference=payment_reference(row.period, number, n),
            batch_id=batch_id,
            line=n,
            period=row.period,
            cadre_id=p.cadre_id,
            cadre_name=names.get(p.cadre_id, ""),
            amount=p.amount,
        )
        p.attempts += 1
        p.batch_id, p.reference = batch_id, a.reference
        if d is None or d.method is None or d.account_number_enc is None:
            a.result, a.failure_reason, a.recorded_at = "failed", NO_PAYMENT_DETAILS, now
            p.status, p.failure_reason = "failed", NO_PAYMENT_DETAILS
            without += 1
            _payment_recorded(uow, a, "failed", NO_PAYMENT_DETAILS, None)
        else:
            a.method, a.bank_enc = d.method, d.bank_enc
            a.account_number_enc, a.account_holder_enc = d.account_number_enc, d.account_holder_enc
            p.status, p.failure_reason = "in_batch", None
            total += p.amount
        session.add(a)
        session.add(p)
    batch = PaymentBatchRow(
        batch_id=batch_id,
        period=row.period,
        number=number,
        lines=len(due) - without,
        total_amount=total,
        without_details=without,
        created_at=now,
        created_by=uow.actor.client_id,
    )
    session.add(batch)
    await session.flush()
    await _maybe_paid(uow, row)
    uow.audit(
        "payment_batch.create",
        "period",
        row.period,
        None,
        {"batch_id": batch_id, "lines": batch.lines, "total_amount": total, "without_details": without},
    )
    return batch


async def batch_file(uow: UnitOfWork, period: str, batch_id: str, cipher: FieldCipher) -> str:
    """The payment file of a batch (decrypting the details it was created with): the same
    bytes every time it is asked for."""
    batch = await uow.session.get(PaymentBatchRow, batch_id)
    if batch is None or batch.period != period:
        raise NotFound(f"no payment batch {batch_id} in period {period}")
    attempts = (
        await uow.session.execute(
            select(PaymentAttemptRow)
            .where(col(PaymentAttemptRow.batch_id) == batch_id, col(PaymentAttemptRow.method).is_not(None))
            .order_by(col(PaymentAttemptRow.line))
        )
    ).scalars()
    return payment_file(
        PaymentLine(
            reference=a.reference,
            period=a.period,
            cadre_id=a.cadre_id,
            cadre_name=a.cadre_name,
            method=a.method or "",
            bank=cipher.decrypt(a.bank_enc) or "",
            account_number=cipher.decrypt(a.account_number_enc) or "",
            account_holder=cipher.decrypt(a.account_holder_enc) or "",
            amount=a.amount,
        )
        for a in attempts
    )


async def record_results(uow: UnitOfWork, period_text: str, batch_id: str, csv_text: str) -> dict[str, Any]:
    """The bank's result file: each line paid or failed (with the bank's reason). Checked
    completely before anything changes."""
    row = await _locked_period(uow, period_text, Action.RECORD_RESULTS)
    session = uow.session
    batch = await session.get(PaymentBatchRow, batch_id)
    if batch is None or batch.period != row.period:
        raise NotFound(f"no payment batch {batch_id} in period {row.period}")
    try:
        results = parse_result_file(csv_text)
    except ResultFileInvalid as exc:
        raise Invalid("the result file is not valid", errors=exc.errors) from exc
    attempts: dict[str, PaymentAttemptRow] = {}
    for part in store.chunks([r.reference for r in results]):
        rows = await session.execute(select(PaymentAttemptRow).where(col(PaymentAttemptRow.reference).in_(part)))
        attempts.update({a.reference: a for a in rows.scalars()})
    errors: list[dict[str, object]] = []
    todo = []
    for r in results:
        a = attempts.get(r.reference)
        if a is None or a.batch_id != batch_id or a.method is None:
            errors.append({"line": r.line, "field": "reference", "msg": f"{r.reference} is not a line of this batch"})
        elif a.result is not None and a.result != r.result:
            errors.append(
                {"line": r.line, "field": "result", "msg": f"{r.reference} was already recorded as {a.result}"}
            )
        elif a.result is None:
            todo.append((r, a))
    if errors:
        raise Conflict("the result file contradicts the batch; nothing was recorded", errors=errors)
    now = uow.clock.now()
    counts = {"paid": 0, "failed": 0, "already_recorded": len(results) - len(todo)}
    for r, a in todo:
        a.result, a.failure_reason, a.paid_on, a.recorded_at = r.result, r.failure_reason, r.paid_on, now
        session.add(a)
        p = await session.get(PaymentRow, (a.period, a.cadre_id))
        if p is not None and p.reference == a.reference:
            p.status, p.failure_reason, p.paid_on = r.result, r.failure_reason, r.paid_on
            session.add(p)
        counts[r.result] += 1
        _payment_recorded(uow, a, r.result, r.failure_reason, r.paid_on)
    await session.flush()
    await _maybe_paid(uow, row)
    uow.audit("payment_results.record", "period", row.period, None, {"batch_id": batch_id, **counts})
    return {"period": row.period, "batch_id": batch_id, **counts, "state": row.state}


async def close(uow: UnitOfWork, period_text: str) -> PeriodRow:
    row = await _locked_period(uow, period_text, Action.CLOSE)
    counts = await _payment_counts(uow, row.period)
    if counts.get("in_batch"):
        raise Conflict(
            f"cannot close period {row.period}: {counts['in_batch']} payments await the bank's result",
            period=row.period,
            state=row.state,
        )
    paid = await uow.session.execute(
        text("SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM payments WHERE period = :p AND status = 'paid'"),
        {"p": row.period},
    )
    paid_cadres, paid_amount = paid.one()
    before = period_public(row)
    now = uow.clock.now()
    row.state = PeriodState.CLOSED.value
    row.closed_by_client = uow.actor.client_id
    row.closed_at = now
    uow.session.add(row)
    uow.emit(
        ev.IncentivePeriodClosed(
            period=row.period,
            decision_hash=row.decision_hash,
            paid_cadres=int(paid_cadres or 0),
            paid_amount=int(paid_amount or 0),
            failed_cadres=counts.get("failed", 0),
            closed_by=uow.actor.client_id,
            closed_at=now,
        )
    )
    uow.audit("period.close", "period", row.period, before, period_public(row))
    return row


def period_public(row: PeriodRow) -> dict[str, Any]:
    def at(v: datetime | None) -> str | None:
        return utc(v).isoformat() if v else None

    return {
        "period": row.period,
        "state": row.state,
        "policy_version": row.policy_version,
        "decision_hash": row.decision_hash,
        "cadres_evaluated": row.cadres_evaluated,
        "eligible_cadres": row.eligible_cadres,
        "total_amount": row.total_amount,
        "budget_ceiling": row.budget_ceiling,
        "corrections": row.corrections,
        "needs_recalculation": bool(row.needs_recalculation),
        "calculation_count": row.calculation_count,
        "calculated_by": row.calculated_by_client,
        "calculated_at": at(row.calculated_at),
        "approved_by": row.approved_by_client,
        "approved_at": at(row.approved_at),
        "paid_at": at(row.paid_at),
        "closed_by": row.closed_by_client,
        "closed_at": at(row.closed_at),
    }


# =========================================================================== eligibility (read)


async def eligibility(uow: UnitOfWork, cadre_id: str, period_text: str | None) -> dict[str, Any]:
    """The decision events and messages announce, and how the period's calculation stands.

    - An approved, paid or closed period answers with its stored decision (money moved on it;
      a later change is a correction in a later period).
    - An open or calculated period answers with the live decision, decided now from the
      projections as the reactive announcements are (no budget rule), and, once calculated,
      with `calculation`: whether it includes the cadre, its decision, and whether it matches."""
    session = uow.session
    period = parse_period(period_text) if period_text else current_period(uow)
    row = await session.get(PeriodRow, str(period))
    state = row.state if row is not None else PeriodState.OPEN.value
    if row is not None and state in CLOSED_STATES and row.policy_version:
        d = await store.decision(session, str(period), cadre_id)
        if d is None:
            raise NotFound(f"cadre {cadre_id} was not part of period {period}'s calculation, approved as it stands")
        policy = await store.policy_version(session, row.policy_version)
        assert policy is not None
        answer = _eligibility_answer(d, period, policy, "calculation", budget_applied=True)
        stored_view = {
            "included": True,
            "eligible": d.eligible,
            "amount": d.amount if d.eligible else 0,
            "budget_rule_failed": d.failed("budget"),
            "matches_live": True,  # this answer is the calculation: what was approved and paid
            "needs_recalculation": False,
            "decision_hash": row.decision_hash,
        }
        return {**answer, "period_state": state, "calculation": stored_view}
    live, policy = await _live_decision(uow, cadre_id, period)
    answer = _eligibility_answer(live, period, policy, "live", budget_applied=False)
    calculation = None
    if row is not None and state == PeriodState.CALCULATED.value and row.policy_version:
        calculation = _calculation_view(await store.decision(session, str(period), cadre_id), live, row, policy)
    return {**answer, "period_state": state, "calculation": calculation}


async def _live_decision(uow: UnitOfWork, cadre_id: str, period: Period) -> tuple[Decision, Policy]:
    session = uow.session
    cadres = await store.load_cadres(session, [cadre_id])
    if cadre_id not in cadres:
        raise NotFound(f"cadre {cadre_id} is not known to incentives (no registry event about it yet)")
    c = cadres[cadre_id]
    group = await store.load_cadres_at(session, [c.posyandu_id]) if c.posyandu_id else [c]
    posy = await store.load_posyandu(session, [c.posyandu_id] if c.posyandu_id else [])
    certs = await store.load_certificates_of(session, [g.cadre_id for g in group])
    policy = policy_for(await store.policies(session), str(period))
    decided = [d for d in evaluate(group, posy, certs, period, policy, apply_budget=False) if d.cadre_id == cadre_id]
    if not decided:
        raise NotFound(f"cadre {cadre_id} was registered after period {period}")
    return decided[0], policy


def _calculation_view(stored: Decision | None, live: Decision, row: PeriodRow, policy: Policy) -> dict[str, Any]:
    """The calculated period's view of one cadre, beside the live decision."""
    if stored is None:
        return {
            "included": False,
            "eligible": None,
            "amount": None,
            "matches_live": False,
            "needs_recalculation": True,
            "decision_hash": row.decision_hash,
        }
    matches = stored.before_budget(policy) == live.before_budget(policy)
    return {
        "included": True,
        "eligible": stored.eligible,
        "amount": stored.amount if stored.eligible else 0,
        "budget_rule_failed": stored.failed("budget"),
        "matches_live": matches,
        "needs_recalculation": bool(row.needs_recalculation) or not matches,
        "decision_hash": row.decision_hash,
    }


def _eligibility_answer(
    d: Decision, period: Period, policy: Policy, source: str, *, budget_applied: bool
) -> dict[str, Any]:
    return {
        "cadre_id": d.cadre_id,
        "period": str(period),
        "eligible": d.eligible,
        "amount": d.amount,
        "policy_version": policy.version,
        "source": source,
        "level": d.level_used,
        "posyandu_id": d.posyandu_id,
        "kelurahan_code": d.kelurahan_code,
        "kecamatan_code": d.kecamatan_code,
        "reasons": [
            {
                "rule": r.rule,
                "passed": r.passed,
                "fact": r.fact_en,
                "text_en": r.fact_en,
                "text_id": r.fact_id,
                "source_event_ids": list(r.source_event_ids),
            }
            for r in explain(d, period, policy, budget_applied=budget_applied)
        ],
    }


def decision_public(d: Decision) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(d).items()}
