"""Debian's chromium driven by Playwright, for checking the Prefect UI as a person would use it.

The browser is the system's (`/usr/bin/chromium`, installed by `make test`), never one a test tool
downloads. The flags keep it off the network: this machine refuses outbound connections, and
chromium's background services would otherwise try them at every start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Locator, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
OFFLINE_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium_page() -> Iterator[Page]:
    """A fresh page in a headless chromium with an empty profile; closed with everything it started."""
    if shutil.which(CHROMIUM) is None:
        raise RuntimeError(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    profile = tempfile.mkdtemp(prefix="narration-chromium-")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=OFFLINE_FLAGS, viewport={"width": 1400, "height": 2400}
        )
        page = browser.new_page()
        failed: list[str] = []
        page.on(
            "response", lambda r: failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None
        )
        try:
            yield page
        except BaseException:
            shot = os.path.join(tempfile.gettempdir(), "narration-ui-failure.png")
            page.screenshot(path=shot, full_page=True)
            print(f"screenshot of the page at failure: {shot} ({page.url}); failed requests: {failed}")
            raise
        finally:
            browser.close()
            shutil.rmtree(profile, ignore_errors=True)


def form_field(page: Page, title: str) -> Locator:
    """The schema-form property whose label reads `title` exactly (e.g. 'Text (Optional)')."""
    label = page.get_by_text(title, exact=True)
    return label.locator("xpath=ancestor::div[contains(concat(' ', @class, ' '), ' schema-form-property ')][1]")


def fill_text(page: Page, title: str, value: str) -> None:
    """Type into a text property; an optional one is first switched from None to str."""
    field = form_field(page, title)
    switch = field.get_by_role("button", name="str", exact=True)
    if switch.count():
        switch.click()
    field.locator("textarea, input").first.fill(value)


def choose(page: Page, title: str, option: str) -> None:
    """Pick `option` from a property's choice list (an enum in the parameter schema)."""
    form_field(page, title).locator("button.p-select-button__control").click()
    page.keyboard.press("ArrowDown")
    page.locator(".p-select-option", has_text=option).click()


def submit_until_created(page: Page, attempts: int = 3) -> str:
    """Press Submit until the server creates the run; returns its id. Pressed again after a refusal, as a
    person would: on SQLite the server answers 503 while its database is locked, which Prefect's Python
    client retries by itself and the UI reports as "Something went wrong".
    """
    statuses = []
    for _ in range(attempts):
        with page.expect_response(lambda r: r.url.endswith("/create_flow_run")) as answer:
            page.get_by_role("button", name="Submit").click()
        if answer.value.ok:
            return answer.value.json()["id"]
        statuses.append(answer.value.status)
        page.wait_for_timeout(1000)
    raise AssertionError(f"the Run form was refused {attempts} times: HTTP {statuses}")
