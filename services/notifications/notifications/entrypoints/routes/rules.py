"""What is in force, for operators (`admin`): routing rules, mailboxes, templates."""

from __future__ import annotations

from fastapi import APIRouter

from notifications.config import ConfigDep
from notifications.entrypoints.schemas import RulesPublic
from notifications.handlers.subscriptions import subscribable_event_names
from sikader_shared.deps import Admin

router = APIRouter(tags=["operators"])


@router.get("/rules", response_model=RulesPublic)
async def rules(_actor: Admin, config: ConfigDep) -> RulesPublic:
    """The routing rules, configured mailboxes (ids only) and templates in force."""
    return RulesPublic(
        rules=[r.model_dump() for r in config.rules],
        opd_inboxes=[{"id": i.id, "language": i.language, "events": i.events} for i in config.inboxes],
        puskesmas_inboxes=sorted(config.settings.puskesmas_inboxes),
        templates={lang: config.templates.codes(lang) for lang in ("id", "en")},
        subscribable_event_types=subscribable_event_names(),
    )
