"""The shared API-key handlers, as every service runs them: the rows and the events."""

from __future__ import annotations

import pytest

from sikader_shared.auth import issue_key, revoke_key
from sikader_shared.db import ApiKeyRecord
from sikader_shared.errors import Conflict, Invalid
from sikader_shared.events.auth import ApiKeyIssued, ApiKeyRevoked
from sikader_shared.testing.handlers import HandlerHarness


async def test_issuing_and_revoking_a_key_writes_the_row_the_events_and_the_audit(
    registry_db: HandlerHarness,
) -> None:
    async with registry_db.uow() as uow:
        key_id, key = await issue_key(uow, "dinsos", ["registry:read"], "reader")
        await uow.commit()
    assert key.startswith(f"sk_{key_id}_")
    [issued] = await registry_db.new_events()
    assert isinstance(issued, ApiKeyIssued) and issued.client_id == "dinsos" and issued.scopes == ["registry:read"]
    assert key not in issued.model_dump_json()  # only the hash travels

    async with registry_db.uow() as uow:
        await revoke_key(uow, key_id, "rotated")
        await uow.commit()
    [revoked] = await registry_db.new_events()
    assert isinstance(revoked, ApiKeyRevoked) and revoked.key_id == key_id and revoked.reason == "rotated"
    [row] = await registry_db.rows(ApiKeyRecord, key_id=key_id)
    assert row.revoked_at is not None
    assert [a["action"] for a in await registry_db.audit("api_key", key_id)] == ["api_key.issue", "api_key.revoke"]

    async with registry_db.uow() as uow:
        with pytest.raises(Conflict):
            await revoke_key(uow, key_id)


async def test_a_key_with_an_unknown_scope_is_refused_and_nothing_is_written(registry_db: HandlerHarness) -> None:
    async with registry_db.uow() as uow:
        with pytest.raises(Invalid, match="unknown scopes"):
            await issue_key(uow, "dinsos", ["registry:everything"])
    assert await registry_db.events() == []
    assert await registry_db.rows(ApiKeyRecord) == []
