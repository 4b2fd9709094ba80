"""Sign-in, the session cookie, CSRF, sign-out, expiry, a revoked key and the language
toggle, against the real registry on a real broker."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import select

from console.adapters.tables import SessionRow
from sikader_shared.auth import hash_key, revoke_key
from tests.console.conftest import ADMIN, csrf_of, sign_in


async def test_signed_out_pages_redirect_to_the_sign_in_page(registry_console: Any) -> None:
    async with registry_console.browser() as b:
        r = await b.get("/peta")
        assert r.status_code == 303 and r.headers["location"] == "/masuk?next=/peta"
        page = await b.get("/masuk")
        assert page.status_code == 200
        assert '<html lang="id">' in page.text and 'id="api-key"' in page.text and 'id="sign-in"' in page.text
        assert '<label for="api-key">' in page.text


async def test_a_bad_key_is_refused_on_the_page(registry_console: Any) -> None:
    async with registry_console.browser() as b:
        r = await sign_in(b, "sk_nothing_atall")
        assert r.status_code == 401 and 'id="error"' in r.text
        assert "Kunci tidak dikenal" in r.text


async def test_sign_in_holds_the_key_server_side_and_names_the_person(registry_console: Any) -> None:
    key = registry_console.keys["officer"]
    async with registry_console.browser() as b:
        r = await sign_in(b, key)
        assert r.status_code == 303 and r.headers["location"] == "/peta"
        cookie = r.headers["set-cookie"]
        assert "sikader_console=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert key not in cookie
        page = await b.get("/peta")
        assert page.status_code == 200, page.text[:1000]
        assert '<strong id="who">Siti Rahmawati (Dinkes)</strong>' in page.text
        assert key not in page.text
        for nav in ("peta", "verifikasi", "kader", "sertifikasi", "insentif", "siaran"):
            assert f'data-nav="{nav}"' in page.text
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    async with registry_console.app.state.store() as db:
        rows = (await db.exec(select(SessionRow))).all()
    assert len(rows) == 1 and key not in rows[0].key_ciphertext and rows[0].person == "Siti Rahmawati (Dinkes)"


async def test_forms_need_the_csrf_token_and_sign_out_ends_the_session(registry_console: Any) -> None:
    async with registry_console.signed_in("officer") as b:
        assert (await b.post("/keluar", data={})).status_code == 403
        assert (await b.post("/keluar", data={"csrf_token": "forged"})).status_code == 403
        cookie = b.cookies.get("sikader_console")
        page = await b.get("/peta")
        out = await b.post("/keluar", data={"csrf_token": csrf_of(page.text)})
        assert out.status_code == 303 and out.headers["location"] == "/masuk?out=1"
    async with registry_console.browser() as again:
        again.cookies.set("sikader_console", cookie)
        assert (await again.get("/peta")).status_code == 303  # the session is gone, not only the cookie
    async with registry_console.app.state.store() as db:
        assert (await db.exec(select(SessionRow))).all() == []


async def test_sign_in_form_needs_its_csrf_token(registry_console: Any) -> None:
    async with registry_console.browser() as b:
        r = await b.post("/masuk", data={"api_key": registry_console.keys["officer"], "csrf_token": "x"})
        assert r.status_code == 403


async def test_a_revoked_key_signs_the_person_out_on_the_next_request(registry_console: Any) -> None:
    svc = registry_console.services["registry"]
    async with registry_console.signed_in("reader") as b:
        assert (await b.get("/peta")).status_code == 200
        key_hash = hash_key(registry_console.keys["reader"])
        async with svc.runtime.sessions() as s:
            from sikader_shared.db import ApiKeyRecord

            key_id = (await s.exec(select(ApiKeyRecord).where(ApiKeyRecord.key_hash == key_hash))).one().key_id
        async with svc.runtime.uow(actor=ADMIN) as uow:
            await revoke_key(uow, key_id, "left the office")
            await uow.commit()
        await asyncio.sleep(1.2)  # the services' key cache
        r = await b.get("/peta")
        assert r.status_code == 303 and r.headers["location"] == "/masuk?ended=1"
        assert (await b.get("/peta")).status_code == 303
    async with registry_console.app.state.store() as db:
        assert (await db.exec(select(SessionRow))).all() == []


async def test_idle_sessions_expire(broker: Any, registry_console: Any, make_console: Any) -> None:
    url = registry_console.services["registry"].url
    registry_console.app = make_console({"registry": url}, session_idle_minutes=0)
    async with registry_console.signed_in("officer") as b:
        await asyncio.sleep(0.05)
        assert (await b.get("/peta")).status_code == 303


async def test_language_toggle_switches_the_pages_to_english(registry_console: Any) -> None:
    async with registry_console.signed_in("officer") as b:
        page = await b.get("/peta")
        assert 'data-lang="en"' in page.text and "Peta Posyandu" in page.text
        r = await b.get("/bahasa/en?next=/peta")
        assert r.status_code == 303 and r.headers["location"] == "/peta"
        page = await b.get("/peta")
        assert '<html lang="en">' in page.text and "Map of Posyandu" in page.text and 'data-lang="id"' in page.text
        assert (await b.get("/bahasa/en?next=//evil.example")).headers["location"] == "/peta"


async def test_whoami_names_the_person_of_the_key(registry_console: Any) -> None:
    svc = registry_console.services["registry"]
    async with svc.client(registry_console.keys["calculator"]) as c:
        body = (await c.get("/auth/whoami")).json()
    assert body["label"] == "Rina Wulandari (Dinkes)" and body["client_id"] == "dinkes"


async def test_the_key_never_reaches_a_log_line(registry_console: Any, make_console: Any, capfd: Any) -> None:
    url = registry_console.services["registry"].url
    registry_console.app = make_console({"registry": url}, log_json=True)  # logging set up inside the capture
    key = registry_console.keys["officer"]
    async with registry_console.signed_in("officer") as b:
        await b.get("/peta")
        await b.get("/peta/posyandu.geojson")
    async with registry_console.browser() as b:
        await sign_in(b, "sk_wrong_" + key[-20:])
    out, err = capfd.readouterr()
    assert '"route": "/masuk"' in out  # the console's request log was captured
    assert key not in out + err and key[-20:] not in out + err


async def test_signing_in_again_ends_the_previous_session(registry_console: Any) -> None:
    async with registry_console.signed_in("officer") as b:
        first = b.cookies.get("sikader_console")
        assert (await sign_in(b, registry_console.keys["reader"])).status_code == 303
        assert b.cookies.get("sikader_console") != first
        assert 'id="who">Budi Santoso (DP3AKB)<' in (await b.get("/peta")).text
    async with registry_console.app.state.store() as db:
        assert len((await db.exec(select(SessionRow))).all()) == 1
