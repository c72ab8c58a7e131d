"""Browser fixtures: Playwright for Python driving Debian's chromium (`make browser`
installs it; never a browser download) against pytest-django's live_server.

`admin_page` is a page logged into the admin as a staff superuser; its base URL
is the live server, so `admin_page.goto("/admin/any/url/")` works."""

from pathlib import Path

import pytest

from tests.helpers import LEAD_PASSWORD, LEAD_USERNAME

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def chromium_browser(monkeypatch):
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM}: `make browser` installs Debian's package (needs root and apt)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread, which Django's
    # async-safety check would take for async code calling the ORM.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def admin_page(chromium_browser, live_server, lead):
    context = chromium_browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", LEAD_USERNAME)
    page.fill("#id_password", LEAD_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{live_server.url}/admin/")
    yield page
    context.close()
