"""Policy versions: created, never edited; each takes effect from a period."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from incentives.adapters import repository as repo
from incentives.adapters.tables import PolicyVersionRow, StagedInputRow
from incentives.domain.policy import PolicyInvalid, validate_terms
from incentives.handlers.periods import CLOSED_STATES, current_period, parse_period
from sikader_shared.clock import utc
from sikader_shared.errors import Conflict, Invalid, NotFound
from sikader_shared.uow import UnitOfWork

# A staged input asking the projector to re-decide every cadre (after a new policy).
RECOMPUTE_ALL = "internal.incentives.RecomputeAll"


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
    decided = await repo.first_decided_period(session, effective_from, CLOSED_STATES)
    if decided is not None:
        raise Conflict(
            f"a policy cannot take effect from {effective_from}: period {decided} is already approved "
            "(choose a later period)",
            field="effective_from",
            approved_period=decided,
        )
    sequence = await repo.next_policy_sequence(session)
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
            StagedInputRow(
                event_id=str(uuid.uuid4()),
                ce_type=RECOMPUTE_ALL,
                event_time=uow.clock.now(),
                actor=uow.actor.client_id,
                payload={"policy_version": row.version},
            )
        )
    return row


def policy_dict(row: PolicyVersionRow) -> dict[str, Any]:
    """The version as the audit trail records it."""
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


async def list_policies(session: AsyncSession, after_sequence: int | None, limit: int) -> list[PolicyVersionRow]:
    """Every version, oldest first (keyset on the sequence number)."""
    return await repo.policy_page(session, after_sequence, limit)


async def get_policy(session: AsyncSession, version: str) -> PolicyVersionRow:
    row = await repo.policy_row(session, version)
    if row is None:
        raise NotFound(f"no policy version {version}")
    return row
