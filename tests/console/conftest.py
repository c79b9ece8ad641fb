"""The console in a real headless chromium, against the real app on a real socket (without the voice
models: what is checked here needs no voice loop)."""

from __future__ import annotations

from collections.abc import Generator, Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import chromium, save_screenshot
from tests.support.live_server import LiveServer, live_server, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(make_settings(tmp_path_factory.mktemp("console"))) as live:
        yield live


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context's page."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that failed with a `page` leaves its screenshot (tests.support.browser.ARTIFACTS_DIR)."""
    report = yield
    page = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and page is not None:
        try:
            path = save_screenshot(page, item.nodeid)
        except Exception as error:  # a page that is gone: the failure itself is what matters
            report.sections.append(("screenshot", f"none: {error}"))
        else:
            report.sections.append(("screenshot", str(path)))
    return report


def register(server: LiveServer, name: str) -> tuple[str, str]:
    """A newly registered device: its id and its own token."""
    response = httpx.post(
        f"{server.api_url}/devices",
        json={"name": name, "device_type": "custom"},
        headers=server.operator_headers,
        timeout=10,
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    return response.json()["device_id"], response.json()["auth_token"]


def sign_in(page: Page, *, token: str, device_id: str | None = None) -> None:
    """Fill the sign-in form as a person would: a device token and its id, or an operator token."""
    page.get_by_label("Operator token" if device_id is None else "Device token").check()
    page.get_by_label("Token", exact=True).fill(token)
    if device_id is not None:
        page.get_by_label("Device id").fill(device_id)
    page.get_by_role("button", name="Sign in").click()


def open_console(page: Page, server: LiveServer) -> None:
    page.goto(f"{server.base_url}/console")
    page.wait_for_selector("body[data-ready='true']")
