"""Every console page in Chromium against the stack of tests/browser/conftest.py (the four
services and the console on Apache Kafka, the demo data, no map tiles), one stack for all
(each stack costs about 45 s): the map's markers counted against the registry, filtered and in
English; a Posyandu verified from the queue and the counts moving; a cadre found with the
keyboard; a period calculated with one agency's key, approval refused to the same agency and
granted to another; a broadcast composed, previewed, sent and followed to its end;
certification's page. Each page passes axe-core and leaves a screenshot in var/screenshots/.

Elements used (the console's DOM contract and the page ids):
- Peta: #map[data-state=ready] once drawn, .posyandu-marker (focusable; Enter opens its popup), #marker-count,
  #without-coordinates-count, .kecamatan-label, #f-kecamatan_code, #apply-filters, a[data-lang].
- Verifikasi: #queue-total, #count-VERIFIED, article[data-testid=queue-item][data-posyandu-id],
  #verify-<id>, #flash.
- Kader: #q-name, tr[data-testid=cadre-row] a, #cadre-name, #masked-note.
- Insentif: #action-calculate, #action-approve, #period-state, #flash, #fairness-chart,
  tr[data-testid=decision-row].
- Siaran: #b-title, #b-message, input[name=channels], input[name=kecamatan_codes], #preview,
  #reach, #send, #broadcast-finished, #recipients.
- Sertifikasi: #certified-chart, #expiry-windows, #trainings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from sikader_shared.clock import WITA
from tests.browser.conftest import ConsoleStack
from tests.browser.support import assert_accessible, screenshot, sign_in, sign_out, wait_for, wait_until_path

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300)]


def _registry(stack: ConsoleStack, path: str, key: str = "officer", **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {stack.keys[key]}"}
    r = httpx.get(f"{stack.urls['registry']}{path}", params=params, headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def _map_ready(browser: Any) -> int:
    wait_for(browser, "#map[data-state='ready']", timeout=30, visible=False)
    drawn = len(browser.find_elements(By.CSS_SELECTOR, ".posyandu-marker"))
    shown = int((browser.find_element(By.ID, "marker-count").get_attribute("textContent") or "-1").strip())
    assert drawn == shown
    return drawn


def _text(browser: Any, css: str) -> str:
    return (wait_for(browser, css, visible=False).get_attribute("textContent") or "").strip()


def test_the_map_draws_every_posyandu_the_registry_has(console_stack: ConsoleStack, browser: Any) -> None:
    sign_in(browser, console_stack, "officer")
    everything = _registry(console_stack, "/posyandu.geojson")
    assert _map_ready(browser) == len(everything["features"]) > 0
    assert int(_text(browser, "#without-coordinates-count")) == everything["without_coordinates"]
    assert len(browser.find_elements(By.CSS_SELECTOR, ".kecamatan-label")) >= 6  # names on the plain background
    marker = browser.find_elements(By.CSS_SELECTOR, ".posyandu-marker")[0]
    browser.execute_script("arguments[0].focus()", marker)  # as Tab would: markers are in the tab order
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert wait_for(browser, ".leaflet-popup a").get_attribute("href")
    assert_accessible(browser)
    screenshot(browser, "peta-semua")

    kecamatan = _registry(console_stack, "/wilayah/kecamatan")[0]
    Select(browser.find_element(By.ID, "f-kecamatan_code")).select_by_value(kecamatan["code"])
    browser.find_element(By.ID, "apply-filters").click()
    filtered = _registry(console_stack, "/posyandu.geojson", kecamatan_code=kecamatan["code"])
    assert _map_ready(browser) == len(filtered["features"]) < len(everything["features"])
    screenshot(browser, "peta-kecamatan")

    browser.find_element(By.CSS_SELECTOR, "a[data-lang='en']").click()
    wait_for(browser, "a[data-lang='id']")
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Map of Posyandu" in browser.find_element(By.TAG_NAME, "h1").text
    _map_ready(browser)
    assert_accessible(browser)
    screenshot(browser, "peta-en")
    browser.find_element(By.CSS_SELECTOR, "a[data-lang='id']").click()
    wait_for(browser, "a[data-lang='en']")


def test_verify_a_posyandu_from_the_queue_and_the_counts_change(console_stack: ConsoleStack, browser: Any) -> None:
    sign_in(browser, console_stack, "officer")
    browser.find_element(By.CSS_SELECTOR, "a[data-nav='verifikasi']").click()
    wait_until_path(browser, "/verifikasi")
    total, verified = int(_text(browser, "#queue-total")), int(_text(browser, "#count-VERIFIED"))
    assert total > 0, "the demo data has Posyandu waiting for verification"
    assert_accessible(browser)
    screenshot(browser, "verifikasi")
    ready = [
        item.get_attribute("data-posyandu-id")
        for item in browser.find_elements(By.CSS_SELECTOR, "article[data-testid='queue-item']")
        if browser.find_element(By.ID, f"verify-{item.get_attribute('data-posyandu-id')}").is_enabled()
    ]
    assert ready, "no Posyandu on the first page of the queue can be verified"
    browser.find_element(By.ID, f"verify-{ready[0]}").click()
    wait_for(browser, "#flash")
    assert int(_text(browser, "#queue-total")) == total - 1
    assert int(_text(browser, "#count-VERIFIED")) == verified + 1
    assert not browser.find_elements(By.CSS_SELECTOR, f"article[data-posyandu-id='{ready[0]}']")
    screenshot(browser, "verifikasi-sesudah")


def test_find_a_cadre_with_the_keyboard(console_stack: ConsoleStack, browser: Any) -> None:
    someone = _registry(console_stack, "/cadres", limit=1, status="active")["items"][0]
    sign_in(browser, console_stack, "officer")
    browser.get(f"{console_stack.console_url}/kader")
    field = wait_for(browser, "#q-name")
    field.send_keys(someone["name"], Keys.ENTER)
    link = wait_for(browser, f"tr[data-testid='cadre-row'] a[href='/kader/{someone['id']}']")
    assert wait_for(browser, "#masked-note")  # the officer's key has no registry:pii
    assert_accessible(browser)
    screenshot(browser, "kader")
    link.click()
    assert wait_for(browser, "#cadre-name").text == someone["name"]
    wait_for(browser, "#eligibility", timeout=15)
    assert_accessible(browser)
    screenshot(browser, "kader-detail")


def _period_action(browser: Any, action: str) -> str:
    browser.find_element(By.ID, f"action-{action}").click()
    wait_for(browser, "#flash", timeout=60)
    return _text(browser, "#period-state")


def test_approval_is_refused_to_the_calculating_agency_and_granted_to_another(
    console_stack: ConsoleStack, browser: Any
) -> None:
    period = datetime.now(WITA).strftime("%Y-%m")
    sign_in(browser, console_stack, "calculator")
    browser.find_element(By.CSS_SELECTOR, "a[data-nav='insentif']").click()
    wait_for(browser, f"a[data-testid='period-{period}']").click()
    assert _period_action(browser, "calculate") == "calculated"
    wait_for(browser, "#fairness-chart", visible=False)
    assert browser.find_elements(By.CSS_SELECTOR, "tr[data-testid='decision-row']")
    assert_accessible(browser)
    screenshot(browser, "insentif")
    sign_out(browser)

    sign_in(browser, console_stack, "approver_same")
    browser.get(f"{console_stack.console_url}/insentif/{period}")
    assert _period_action(browser, "approve") == "calculated"
    assert "Pemisahan tugas" in wait_for(browser, "#flash").text
    screenshot(browser, "insentif-ditolak")
    sign_out(browser)

    sign_in(browser, console_stack, "approver_other")
    browser.get(f"{console_stack.console_url}/insentif/{period}")
    assert _period_action(browser, "approve") == "approved"
    assert_accessible(browser)
    screenshot(browser, "insentif-disetujui")


def test_send_a_broadcast_and_see_it_finish(console_stack: ConsoleStack, browser: Any) -> None:
    sign_in(browser, console_stack, "officer")
    browser.find_element(By.CSS_SELECTOR, "a[data-nav='siaran']").click()
    wait_for(browser, "#b-title").send_keys("Sosialisasi Sekolah Rakyat")
    browser.find_element(By.ID, "b-message").send_keys("Sekolah Rakyat adalah program beasiswa penuh.")
    for box in browser.find_elements(By.CSS_SELECTOR, "input[name='channels']"):
        # e-mail only: WhatsApp and SMS wait through the quiet hours (21:00-07:00 WITA)
        if box.is_selected() != (box.get_attribute("value") == "email"):
            box.click()
    browser.find_elements(By.CSS_SELECTOR, "input[name='kecamatan_codes']")[0].click()
    assert_accessible(browser)
    screenshot(browser, "siaran")
    browser.find_element(By.ID, "preview").click()
    reach = int(_text(browser, "#reach"))
    assert reach > 0
    screenshot(browser, "siaran-pratinjau")
    browser.find_element(By.ID, "send").click()
    wait_for(browser, "#broadcast-finished", timeout=90)
    assert int(_text(browser, "#recipients")) == reach
    assert_accessible(browser)
    screenshot(browser, "siaran-selesai")


def test_certification_page(console_stack: ConsoleStack, browser: Any) -> None:
    sign_in(browser, console_stack, "officer")
    browser.find_element(By.CSS_SELECTOR, "a[data-nav='sertifikasi']").click()
    wait_for(browser, "#expiry-windows")
    wait_for(browser, "#trainings", visible=False)
    assert_accessible(browser)
    screenshot(browser, "sertifikasi")
