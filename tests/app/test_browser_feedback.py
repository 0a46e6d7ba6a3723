"""Teaching it your handwriting, in Chromium: draw a digit, save it with its true label under
the answers, find it on My digits, restart the server and find it again, delete it.

The server keeps its collection in a folder of this test's own (MIMO_DATA_DIR), a SQLite file
that outlives the server process.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from tests.support.browser import (
    STROKES,
    VIEWPORT,
    BrowserSetupError,
    draw,
    launch_chromium,
    open_app,
    streamlit_server,
    wait_for_digit,
    wait_for_run_to_finish,
    wait_until,
)

pytestmark = pytest.mark.browser

FEEDBACK = ".st-key-feedback"
COLLECTION = ".st-key-collection"
MY_DIGITS_PATH = "my-digits"


def text_in_js(selector: str, text: str) -> str:
    """A JS predicate: the element `selector` is on the page and its text includes `text`."""
    return (
        f"() => (document.querySelector({json.dumps(selector)})?.innerText ?? '')"
        f".includes({json.dumps(text)})"
    )


@contextlib.contextmanager
def app_server(log, data_dir):
    try:
        with streamlit_server(log, env={"MIMO_DATA_DIR": str(data_dir)}) as running:
            yield running.url
    except BrowserSetupError as exc:
        pytest.fail(str(exc))


def open_my_digits(page, url: str) -> None:
    page.goto(f"{url}/{MY_DIGITS_PATH}", wait_until="domcontentloaded")
    page.wait_for_selector(COLLECTION, timeout=120_000)
    wait_for_run_to_finish(page, 60)


def test_a_saved_digit_is_on_my_digits_after_a_restart_until_it_is_deleted(tmp_path):
    from playwright.sync_api import sync_playwright

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with sync_playwright() as playwright:
        try:
            browser = launch_chromium(playwright)
        except BrowserSetupError as exc:
            pytest.fail(str(exc))
        page = browser.new_context(viewport=VIEWPORT).new_page()

        with app_server(tmp_path / "first.log", data_dir) as url:
            open_app(page, url)
            draw(page, STROKES["7"])
            wait_for_digit(page, "7")
            page.locator(FEEDBACK).get_by_role("button", name="7", exact=True).click()
            wait_until(page, text_in_js(FEEDBACK, "Saved as 7 · 1 digit"))
            # The navigation takes the user there.
            page.get_by_role("link", name="My digits").first.click()
            page.wait_for_selector(COLLECTION, timeout=60_000)
            wait_until(page, text_in_js(COLLECTION, "1 digit"))
            assert page.locator(COLLECTION).get_by_role("button", name="Delete").count() == 1

        with app_server(tmp_path / "second.log", data_dir) as url:
            open_my_digits(page, url)
            wait_until(page, text_in_js(COLLECTION, "1 digit"))
            item = page.locator(COLLECTION).locator("[class*='st-key-digit-']")
            assert item.count() == 1 and "7" in item.inner_text()
            page.locator(COLLECTION).get_by_role("button", name="Delete").click()
            wait_until(page, text_in_js(COLLECTION, "0 digits"))
            assert page.locator(COLLECTION).get_by_role("button", name="Delete").count() == 0
            assert page.locator("[data-testid='stException']").count() == 0
        browser.close()
