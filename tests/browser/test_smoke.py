"""The console's smoke test in Chromium against the stack of tests/browser/conftest.py (the four
services and the console on Apache Kafka, the demo data, TILE_URL empty): the sign-in page is
accessible and refuses a bad key; the officer signs in with her key and sees her name; the map
page draws the demo Posyandu, requests nothing from any host but the console, carries the
Content-Security-Policy (no inline script, no framing) and passes axe-core; the session cookie is
httpOnly and SameSite=Strict and the key shows nowhere; after signing out the old session is
refused. Screenshots of each page go to var/screenshots/.

Elements used (the console's DOM contract): #api-key, #sign-in, #error, #who, #sign-out, #map,
.posyandu-marker, #marker-count, a[data-nav]."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import ConsoleStack
from tests.browser.support import (
    assert_accessible,
    document_headers,
    foreign_requests,
    performance_events,
    screenshot,
    sign_in,
    sign_out,
    wait_for,
    wait_until_path,
)

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300)]
NAV = ("peta", "verifikasi", "kader", "sertifikasi", "insentif", "siaran")


def _directives(csp: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in csp.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def test_sign_in_page_is_accessible_and_refuses_a_bad_key(console_stack: ConsoleStack, browser: Any) -> None:
    browser.get(f"{console_stack.console_url}/peta")
    wait_until_path(browser, "/masuk")  # signed out: sent to the sign-in page
    field = wait_for(browser, "#api-key")
    assert field.get_attribute("type") == "password" and field.get_attribute("name") == "api_key"
    labels = browser.find_elements(By.CSS_SELECTOR, "label[for='api-key']")
    assert labels and labels[0].text.strip(), "the key field has no visible label"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") in ("id", "en")
    assert_accessible(browser)
    screenshot(browser, "masuk")

    field.send_keys("sk_not_a_real_key")
    browser.find_element(By.ID, "sign-in").click()
    error = wait_for(browser, "#error")
    assert error.text.strip()
    assert urlsplit(browser.current_url).path == "/masuk"
    assert "sk_not_a_real_key" not in browser.page_source  # a key is never echoed back
    assert_accessible(browser)
    screenshot(browser, "masuk-error")


def test_officer_sees_her_name_and_the_map_loads_nothing_from_elsewhere(
    console_stack: ConsoleStack, browser: Any
) -> None:
    name = sign_in(browser, console_stack, "officer")
    assert name in wait_for(browser, "#who").text
    for nav in NAV:
        assert browser.find_elements(By.CSS_SELECTOR, f"a[data-nav='{nav}']"), f"nav link {nav} missing"

    # the map: every demo Posyandu with coordinates drawn, on a plain background (no tiles)
    wait_for(browser, "#map")
    wait_for(browser, ".posyandu-marker", timeout=20, visible=False)
    count = (wait_for(browser, "#marker-count", visible=False).get_attribute("textContent") or "").strip()
    drawn = browser.find_elements(By.CSS_SELECTOR, ".posyandu-marker")
    assert re.fullmatch(r"\d+", count), count
    assert int(count) == len(drawn) > 0, (count, len(drawn))
    screenshot(browser, "peta")

    events = performance_events(browser)
    assert foreign_requests(browser, console_stack.console_url, events) == []
    headers = document_headers(events, "/peta")
    csp = _directives(headers.get("content-security-policy", ""))
    assert csp, f"no Content-Security-Policy on /peta: {headers}"
    scripts = csp.get("script-src") or csp.get("default-src") or []
    assert "'self'" in scripts and "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts, csp
    assert "tile.openstreetmap.org" not in " ".join(csp.get("img-src", [])), csp  # TILE_URL is empty
    assert csp.get("frame-ancestors") == ["'none'"] or headers.get("x-frame-options", "").upper() == "DENY", headers
    assert_accessible(browser)

    # the session: a cookie the page's scripts cannot read, never sent cross-site; the key
    # itself is in no page and no URL
    cookies = browser.get_cookies()
    assert cookies, "no session cookie"
    for cookie in cookies:
        assert cookie.get("httpOnly") is True and cookie.get("sameSite") == "Strict", cookie
    assert console_stack.keys["officer"] not in browser.page_source
    assert console_stack.keys["officer"] not in browser.current_url


def test_sign_out_refuses_the_old_session_afterwards(console_stack: ConsoleStack, browser: Any) -> None:
    sign_in(browser, console_stack, "officer")
    session = browser.get_cookies()
    sign_out(browser)
    assert not browser.find_elements(By.ID, "who")
    browser.get(f"{console_stack.console_url}/peta")
    wait_until_path(browser, "/masuk")
    screenshot(browser, "keluar")

    # the old cookie, replayed: the session is gone on the server, not only in the browser
    cookies = {c["name"]: c["value"] for c in session}
    with httpx.Client(base_url=console_stack.console_url, cookies=cookies, follow_redirects=False) as client:
        r = client.get("/peta")
    assert r.status_code in (302, 303, 307) and urlsplit(r.headers["location"]).path == "/masuk", (
        r.status_code,
        r.headers,
    )
