"""The LangServe chat playground (/agent/playground/) used as a customer would: headless Chromium, two turns.

Debian's Chromium and chromedriver (`make install-dev` installs them); Selenium is pointed at /usr/bin/chromedriver,
so Selenium Manager never runs and nothing is downloaded. Evidence goes to artifacts/ (git-ignored):
playground.png after a green run; playground-failure.png and playground-failure.txt (browser console, network calls,
page text, server log) when the test fails.

The page is LangServe's React chat app. What it renders (read from its bundle, langserve 0.3.x):
- the chat input is `textarea[placeholder="Send a message..."]`; the send button is the next sibling of its wrapper
  and shows an `svg.animate-spin` spinner while a reply streams;
- each message is a `div.group` with a `<select>` holding its role (human / ai / system) and the text twice: in a
  transparent `<textarea>` and in the visible `div[aria-hidden="true"]` mirror we read;
- messages are laid out newest at the bottom (a reversed list in a `flex-col-reverse` box): order by screen position;
- a failed run shows a react-toastify toast (`.Toastify__toast`) and removes the turn.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pytest
from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from settings import ROOT
from tests.conftest import SAMPLE, LiveServer

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1400",
)
ARTIFACTS = ROOT / "artifacts"
TIMEOUT = 60  # seconds, for every wait: a cold server loads the router and the embedder on its first turn

CHAT_INPUT = (By.CSS_SELECTOR, 'textarea[placeholder="Send a message..."]')
SEND_BUTTON = (By.XPATH, '//textarea[@placeholder="Send a message..."]/../following-sibling::button')

# One snapshot of the conversation as rendered, read in a single script so a React re-render cannot split it.
READ_CHAT = """
const bubbles = Array.from(document.querySelectorAll('div.group'))
    .filter(g => g.querySelector('select') && g.querySelector('div[aria-hidden="true"]'));
return {
    messages: bubbles
        .map(g => ({
            role: g.querySelector('select').value,
            text: g.querySelector('div[aria-hidden="true"]').innerText.trim(),
            top: g.getBoundingClientRect().top,
        }))
        .sort((a, b) => a.top - b.top),
    busy: document.querySelector('button svg.animate-spin') !== null,
    errors: Array.from(document.querySelectorAll('.Toastify__toast')).map(t => t.innerText.trim()),
};
"""
NETWORK = (
    "return performance.getEntriesByType('resource')"
    ".map(e => ({url: e.name, kind: e.initiatorType, status: e.responseStatus, done: e.responseEnd > 0}));"
)
# Two animation frames: whatever state the finished requests set has been rendered.
SETTLE = "const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(done));"

EURO_PRICE = re.compile(r"\d{1,3}(?:\.\d{3})*,\d{2} €")
CATALOGUE: dict[str, Decimal] = {
    p["name"]: Decimal(p["price"]) for p in json.loads(SAMPLE.read_text(encoding="utf-8")) if p.get("active", True)
}


def euros(amount: Decimal) -> str:
    """959 -> '959,00 €', 1089 -> '1.089,00 €': how the assistant writes prices."""
    whole, cents = f"{amount:.2f}".split(".")
    return f"{int(whole):,}".replace(",", ".") + f",{cents} €"


def products_named(text: str) -> list[str]:
    """Catalogue products named in `text`, in order of first mention (the longest name wins at a position)."""
    found: dict[int, str] = {}
    for name in CATALOGUE:
        at = text.find(name)
        if at >= 0 and len(name) > len(found.get(at, "")):
            found[at] = name
    return [found[at] for at in sorted(found)]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chrome]:
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are required: `make install-dev` installs them (apt-get).")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def diagnostics(driver: Chrome, server: LiveServer) -> str:
    """What a failure report needs: browser console, network calls, page text, the server's log tail."""
    sections: list[str] = []
    for title, read in (
        ("browser console", lambda: "\n".join(f"{e['level']} {e['message']}" for e in driver.get_log("browser"))),
        (
            "network calls",
            lambda: "\n".join(f"{c['status']} {c['kind']} {c['url']}" for c in driver.execute_script(NETWORK)),
        ),
        ("page text", lambda: driver.find_element(By.TAG_NAME, "body").text),
        ("server log (tail)", lambda: server.log.read_text(errors="replace")[-4000:]),
    ):
        try:
            body = read()
        except Exception as exc:  # a report must not hide the original failure
            body = f"(unavailable: {exc!r})"
        sections.append(f"--- {title}\n{body or '(empty)'}")
    return "\n".join(sections)


@contextmanager
def evidence_on_failure(driver: Chrome, server: LiveServer) -> Iterator[None]:
    """On failure: artifacts/playground-failure.png and .txt, and the same report attached to the error."""
    try:
        yield
    except (Exception, pytest.fail.Exception) as exc:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            driver.save_screenshot(str(ARTIFACTS / "playground-failure.png"))
        except Exception as shot_error:
            exc.add_note(f"(no failure screenshot: {shot_error!r})")
        report = diagnostics(driver, server)
        (ARTIFACTS / "playground-failure.txt").write_text(report, encoding="utf-8")
        exc.add_note(f"Evidence in {ARTIFACTS}/playground-failure.png and .txt\n{report}")
        raise


def open_playground(driver: Chrome, base_url: str) -> WebElement:
    """Load the page and wait until the chat can be used: input shown and the runnable's schemas fetched.

    The input appears before the schemas arrive, and a message sent then goes out under the key "undefined";
    so the schema requests must have finished (and succeeded) before we type.
    """
    driver.get(f"{base_url}/agent/playground/")
    wait = WebDriverWait(driver, TIMEOUT)
    chat_input = wait.until(lambda d: d.find_element(*CHAT_INPUT))

    def schemas_fetched(d: Chrome) -> list[dict[str, Any]] | Literal[False]:
        calls = [c for c in d.execute_script(NETWORK) if re.search(r"/(input|output)_schema$", c["url"])]
        kinds = {c["url"].rsplit("/", 1)[1] for c in calls if c["done"]}
        return calls if kinds == {"input_schema", "output_schema"} else False

    calls = wait.until(schemas_fetched, "the playground never finished fetching its input and output schemas")
    failed = [f"{c['url']} -> {c['status']}" for c in calls if c["status"] != 200]
    assert not failed, f"the playground could not read the runnable's schemas: {failed}"
    driver.execute_async_script(SETTLE)
    return chat_input


def send(driver: Chrome, chat_input: WebElement, text: str) -> None:
    chat_input.send_keys(text)
    WebDriverWait(driver, TIMEOUT).until(lambda d: d.find_element(*CHAT_INPUT).get_property("value") == text)
    driver.find_element(*SEND_BUTTON).click()


def wait_for_reply(driver: Chrome, turn: int) -> str:
    """The text of the assistant's reply number `turn`, once it has finished streaming and is on screen."""

    def reply_rendered(d: Chrome) -> str | Literal[False]:
        chat = d.execute_script(READ_CHAT)
        if chat["errors"]:
            raise AssertionError(f"the playground shows an error: {' | '.join(chat['errors'])}")
        replies = [m["text"] for m in chat["messages"] if m["role"] == "ai"]
        if chat["busy"] or len(replies) < turn or not replies[-1]:
            return False
        assert len(replies) == turn, f"expected {turn} replies on screen, found {len(replies)}: {replies}"
        return str(replies[-1])

    return str(WebDriverWait(driver, TIMEOUT).until(reply_rendered, f"reply {turn} never appeared"))


def test_playground_answers_a_price_and_a_follow_up(live_server: LiveServer, browser: Chrome) -> None:
    for stale in ("playground.png", "playground-failure.png", "playground-failure.txt"):
        (ARTIFACTS / stale).unlink(missing_ok=True)

    with evidence_on_failure(browser, live_server):
        chat_input = open_playground(browser, live_server.base_url)

        send(browser, chat_input, "¿Cuánto cuesta el iPhone 15?")
        first = wait_for_reply(browser, 1)
        assert "959,00 €" in first, first

        send(browser, browser.find_element(*CHAT_INPUT), "¿y el segundo?")
        second = wait_for_reply(browser, 2)
        listed = products_named(first)
        named = products_named(second)
        assert len(listed) >= 2, f"the first reply should list the options: {first!r}"
        assert named, f"the follow-up reply names no catalogue product: {second!r}"
        assert EURO_PRICE.search(second), f"the follow-up reply gives no price: {second!r}"
        # "el segundo" is the second product the previous answer listed, at its catalogue price.
        assert named[0] == listed[1], (named, listed)
        assert euros(CATALOGUE[named[0]]) in second, second

        # The page itself, as a person sees it: the reply is on screen, not only in the DOM.
        visible = browser.find_element(By.TAG_NAME, "body").text
        assert named[0] in visible and euros(CATALOGUE[named[0]]) in visible, visible

        ARTIFACTS.mkdir(exist_ok=True)
        assert browser.save_screenshot(str(ARTIFACTS / "playground.png"))
