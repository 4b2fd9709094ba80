"""The paged list routes of certification: every item exactly once when a client follows
the `Link: rel="next"` header, and the body stays a JSON array."""

from __future__ import annotations

from typing import Any

import pytest

from sikader_shared.testing.paging import walk_pages as walk
from tests.certification.support import assessment, key, known, publish, registered, start_certification

pytestmark = pytest.mark.integration


async def test_a_holders_certificates_walk_through_the_link_header(
    broker: Any, databases: Any, run_service: Any
) -> None:
    svc = await start_certification(broker, databases, run_service)
    assessor = await key(svc.runtime, "puskesmas-ki", "certification:assess")
    siti = registered("Siti Aminah")
    await publish(broker.bootstrap, siti)
    async with svc.client(assessor) as client:
        await known(client, siti.cadre_id)
        for groups in (("1", "2", "3"), ("4",), ("5",)):
            r = await client.post("/assessments", json=assessment(siti.cadre_id, *groups))
            assert r.status_code == 201, r.text
        whole = await client.get("/certificates", params={"cadre_id": siti.cadre_id})
        assert "link" not in whole.headers and len(whole.json()) == 3
        items, pages = await walk(client, "/certificates", {"cadre_id": siti.cadre_id, "limit": 1})
        assert pages == 3
        assert [c["number"] for c in items] == [c["number"] for c in whole.json()]
        assert len({c["certificate_id"] for c in items}) == 3
        items, pages = await walk(client, "/certificates", {"cadre_id": siti.cadre_id, "limit": 2})
        assert pages == 2 and [c["number"] for c in items] == [c["number"] for c in whole.json()]
        bad = await client.get("/certificates", params={"cadre_id": siti.cadre_id, "cursor": "bm90LWEtY3Vyc29y"})
        assert bad.status_code == 422
