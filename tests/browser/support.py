"""Helpers for the console's browser tests (Selenium 4, Debian's Chromium): sign in and out by
the console's DOM contract (see tests/browser/conftest.py), screenshots under var/screenshots/,
the accessibility check with the vendored axe-core, and what the browser itself saw (requests
made, response headers) from Chrome's performance log."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

if TYPE_CHECKING:
    from tests.browser.conftest import ConsoleStack

ROOT = Path(__file__).resolve().parents[2]
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"  # make console-assets
SCREENSHOTS = Path(os.environ.get("SIKADER_SCREENSHOT_DIR") or ROOT / "var" / "screenshots")
# axe-core's rule tags checked: WCAG 2.0/2.1 levels A and AA (labels, contrast, keyboard, names)
AXE_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
FAILING_IMPACTS = ("serious", "critical")


def wait_for(driver: WebDriver, css: str, timeout: float = 10.0, *, visible: bool = True) -> WebElement:
    """The first element matching `css` once it is there (and displayed unless visible=False)."""
    condition = ec.visibility_of_element_located if visible else ec.presence_of_element_located
    try:
        element: WebElement = WebDriverWait(driver, timeout).until(condition((By.CSS_SELECTOR, css)))
    except TimeoutException:
        raise AssertionError(
            f"{css!r} not {'visible' if visible else 'present'} within {timeout} s on {driver.current_url}\n"
            f"{_page_excerpt(driver)}"
        ) from None
    return element


def wait_until_path(driver: WebDriver, path: str, timeout: float = 10.0) -> None:
    try:
        WebDriverWait(driver, timeout).until(lambda d: urlsplit(d.current_url).path == path)
    except TimeoutException:
        raise AssertionError(
            f"expected {path}, still on {driver.current_url} after {timeout} s\n{_page_excerpt(driver)}"
        ) from None


def _page_excerpt(driver: WebDriver, limit: int = 1500) -> str:
    try:
        text = driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return "(no page)"
    return text[:limit]


def sign_in(driver: WebDriver, stack: ConsoleStack, key_name: str = "officer") -> str:
    """Sign in at /masuk with the key issued for `key_name` (stack.keys); lands on /peta.
    Returns the person's name (the key's label), which the page shows in #who."""
    driver.get(f"{stack.console_url}/masuk")
    field = wait_for(driver, "#api-key")
    field.clear()
    field.send_keys(stack.keys[key_name])
    driver.find_element(By.ID, "sign-in").click()
    wait_until_path(driver, "/peta", timeout=15)
    wait_for(driver, "#who")
    return stack.labels[key_name]


def sign_out(driver: WebDriver) -> None:
    """The sign-out button (a POST form with its CSRF field); back on /masuk."""
    wait_for(driver, "#sign-out").click()
    wait_until_path(driver, "/masuk", timeout=15)


def screenshot(driver: WebDriver, name: str) -> Path:
    """var/screenshots/<name>.png: the whole page (beyond the window) where Chrome's DevTools
    protocol allows, else the window."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    try:
        import base64

        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
    except (WebDriverException, AttributeError, KeyError):
        driver.save_screenshot(str(path))
    return path


@dataclass(frozen=True)
class Violation:
    rule: str
    impact: str
    help: str
    targets: list[str]

    def __str__(self) -> str:
        shown = ", ".join(self.targets[:5]) + (f" (+{len(self.targets) - 5})" if len(self.targets) > 5 else "")
        return f"{self.rule} [{self.impact}] {self.help}: {shown}"


def axe_violations(driver: WebDriver, context: str | None = None) -> list[Violation]:
    """axe-core's WCAG 2.x A/AA violations of the current page (or of the `context` selector).
    axe is injected through WebDriver (execute_script), which the page's Content-Security-Policy
    does not govern: no inline script or extra origin is needed on the console's side."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(AXE.read_text(encoding="utf-8"))
    script = """
        const [context, tags, done] = arguments;
        axe.run(context || document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
          .then(r => done(JSON.stringify(r.violations.map(v => ({
              rule: v.id, impact: v.impact || '', help: v.help,
              targets: v.nodes.map(n => n.target.join(' '))})))))
          .catch(e => done(JSON.stringify({error: String(e)})));
    """
    driver.set_script_timeout(60)
    raw = json.loads(driver.execute_async_script(script, context, list(AXE_TAGS)))
    if isinstance(raw, dict):
        raise AssertionError(f"axe-core failed on {driver.current_url}: {raw['error']}")
    return [Violation(**v) for v in raw]


def assert_accessible(driver: WebDriver, context: str | None = None, ignore: tuple[str, ...] = ()) -> None:
    """Fails on serious or critical axe-core violations (WCAG 2.x A/AA), listing each with the
    elements concerned; `ignore` names rules to leave out (say why where you use it)."""
    failing = [v for v in axe_violations(driver, context) if v.impact in FAILING_IMPACTS and v.rule not in ignore]
    assert not failing, f"accessibility violations on {driver.current_url}:\n" + "\n".join(f"  {v}" for v in failing)


# -- what the browser saw (Chrome's performance log: goog:loggingPrefs performance=ALL) -----------


def performance_events(driver: WebDriver) -> list[dict[str, Any]]:
    """DevTools Network.* events logged since the last call (reading empties the log)."""
    events = []
    for entry in driver.get_log("performance"):  # type: ignore[attr-defined]
        message = json.loads(entry["message"])["message"]
        if str(message.get("method", "")).startswith("Network."):
            events.append(message)
    return events


def requested_urls(driver: WebDriver, events: list[dict[str, Any]] | None = None) -> set[str]:
    """Every URL the page asked for: the requests in the performance log (blocked ones too: a
    request the Content-Security-Policy refused is still logged) and the Resource Timing API's
    entries of the current document."""
    urls = {
        str(e["params"]["request"]["url"])
        for e in (performance_events(driver) if events is None else events)
        if e.get("method") == "Network.requestWillBeSent"
    }
    urls.update(driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"))
    return {u for u in urls if not u.startswith(("data:", "blob:", "about:"))}


def foreign_requests(driver: WebDriver, origin: str, events: list[dict[str, Any]] | None = None) -> list[str]:
    """The URLs requested from anywhere but `origin` (scheme://host:port)."""
    own = urlsplit(origin)[:2]
    return sorted(u for u in requested_urls(driver, events) if urlsplit(u)[:2] != own)


def document_headers(events: list[dict[str, Any]], path: str) -> dict[str, str]:
    """The response headers the browser received for the document at `path` (lower-case
    names), from the performance log's events."""
    for e in reversed(events):
        if e.get("method") != "Network.responseReceived" or e["params"].get("type") != "Document":
            continue
        response = e["params"]["response"]
        if urlsplit(response["url"]).path == path:
            return {k.lower(): str(v) for k, v in response["headers"].items()}
    raise AssertionError(f"no document response for {path} in the performance log")
