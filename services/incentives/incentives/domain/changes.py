"""What changed for one cadre between two calculated periods, and why: the rules whose
outcome flipped (each with its fact before and now, in English and Indonesian, and the ids
of the events behind it), or what moved the amount (the level used, the policy's amount).
Pure: the two stored decisions and their policies come in."""

from __future__ import annotations

from dataclasses import dataclass

from incentives.domain.periods import Period
from incentives.domain.policy import Policy
from incentives.domain.rules import Decision, Reason, explain, rupiah

CADRE_KINDS: tuple[str, ...] = ("added", "dropped", "amount_changed")
POSYANDU_KIND = "posyandu_verification"
KINDS: tuple[str, ...] = (*CADRE_KINDS, POSYANDU_KIND)


@dataclass(frozen=True)
class Side:
    """A decision with what its reasons need (a period's calculation)."""

    decision: Decision | None
    period: Period
    policy: Policy

    def reasons(self) -> dict[str, Reason]:
        if self.decision is None:
            return {}
        return {r.rule: r for r in explain(self.decision, self.period, self.policy, budget_applied=True)}


@dataclass(frozen=True)
class Cause:
    rule: str  # a rule of the policy, or level / policy_amount / not_calculated
    text_en: str
    text_id: str
    before_en: str | None = None
    before_id: str | None = None
    source_event_ids: tuple[str, ...] = ()


def causes(kind: str, before: Side, now: Side) -> list[Cause]:
    """Why the cadre was added, dropped, or paid another amount."""
    if kind == "amount_changed":
        return _amount_causes(before, now)
    if before.decision is None:
        return [
            Cause(
                "not_calculated",
                f"not part of {before.period}'s calculation (registered or first known after it)",
                f"tidak termasuk dalam perhitungan {before.period} (terdaftar atau baru tercatat setelahnya)",
            )
        ]
    if now.decision is None:
        return [
            Cause(
                "not_calculated",
                f"not part of {now.period}'s calculation",
                f"tidak termasuk dalam perhitungan {now.period}",
            )
        ]
    return _flipped_rules(kind, before, now)


def _flipped_rules(kind: str, before: Side, now: Side) -> list[Cause]:
    """Added: the rules that failed before and pass now; dropped: the reverse. Each with its
    fact now and before (a policy that stops requiring a rule shows here too)."""
    was, is_ = before.reasons(), now.reasons()
    flipped_to = kind == "added"
    out = []
    for rule, reason in is_.items():
        old = was.get(rule)
        if old is None or old.passed == reason.passed or reason.passed != flipped_to:
            continue
        ids = tuple(dict.fromkeys((*reason.source_event_ids, *old.source_event_ids)))
        out.append(Cause(rule, reason.fact_en, reason.fact_id, old.fact_en, old.fact_id, ids))
    return out


def _amount_causes(before: Side, now: Side) -> list[Cause]:
    old, new = before.decision, now.decision
    assert old is not None and new is not None
    out = []
    if old.level_used != new.level_used:
        out.append(
            Cause(
                "level",
                f"level {old.level_used} -> {new.level_used} (certificate {new.certificate_number})",
                f"jenjang {old.level_used} -> {new.level_used} (sertifikat {new.certificate_number})",
                source_event_ids=tuple(i for i in (new.certificate_event_id,) if i),
            )
        )
    level = new.level_used
    was, is_ = before.policy.amount_for(level), now.policy.amount_for(level)
    if was != is_:
        out.append(
            Cause(
                "policy_amount",
                f"policy {before.policy.version} -> {now.policy.version}: {level} {rupiah(was)} -> {rupiah(is_)}",
                f"kebijakan {before.policy.version} -> {now.policy.version}: {level} {rupiah(was)} -> {rupiah(is_)}",
            )
        )
    return out
