"""The console page in headless chromium: served without a token under a self-only policy, loading
nothing from outside the server, refusing bad tokens with the server's reason, and signing in with a
device token or an operator token that picks a device. (Talking to a device:
tests/voice/test_voice_console.py.)"""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, Request, Route, expect

from server.auth import TokenService
from server.console import CONTENT_SECURITY_POLICY
from tests.console.conftest import open_console, register, sign_in
from tests.support.live_server import LiveServer

PAGE_FILES = {
    "/console/console.css": "text/css",
    "/console/console.js": "text/javascript",
    "/console/api.js": "text/javascript",
    "/console/call.js": "text/javascript",
    "/console/transcript.js": "text/javascript",
    "/console/favicon.svg": "image/svg+xml",
}


def test_the_page_and_its_files_are_served_without_a_token_under_a_self_only_policy(
    server: LiveServer,
) -> None:
    with httpx.Client(base_url=server.base_url, trust_env=False, timeout=10) as http:
        for path in ("/console", "/console/", "/console/index.html"):
            page = http.get(path)
            assert page.status_code == 200, (path, page.text)
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "no-referrer"
        referenced = set(re.findall(r'(?:src|href)="([^"]+)"', http.get("/console").text))
        assert referenced == set(PAGE_FILES) - {
            "/console/api.js",
            "/console/call.js",
            "/console/transcript.js",
        }
        for path, content_type in PAGE_FILES.items():
            response = http.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"].startswith(content_type), path
            assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        # Nothing outside the console's folder is reachable through it.
        for path in ("/console/%2e%2e/app.py", "/console/..%2fapp.py", "/console/missing.js"):
            response = http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error_code"] == "NOT_FOUND"


def test_the_page_loads_nothing_from_outside_the_server(server: LiveServer, page: Page) -> None:
    """Every request the page makes, through sign-in and opening a device, goes to the server; none
    is refused by the page's own policy (an inline script or style would be)."""
    device_id, _ = register(server, "outside-check")
    inside: list[str] = []
    outside: list[str] = []

    def route(route: Route, request: Request) -> None:
        if request.url.startswith(server.base_url + "/"):
            inside.append(request.url.removeprefix(server.base_url))
            route.continue_()
        else:
            outside.append(request.url)
            route.abort()

    page.context.route("**/*", route)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)

    open_console(page, server)
    sign_in(page, token=server.token())
    page.get_by_label("Device", exact=True).select_option(device_id)
    page.get_by_role("button", name="Open this device").click()
    expect(page.locator("#console")).to_be_visible()
    expect(page.locator("#instance-latency")).to_be_visible()

    assert outside == []
    assert problems == []
    paths = {url.split("?")[0] for url in inside}
    assert set(PAGE_FILES) <= paths
    assert {"/v1/devices", f"/v1/devices/{device_id}/state", "/v1/personas", "/v1/metrics/latency"} <= paths


def test_a_malformed_token_is_refused_with_the_servers_reason(server: LiveServer, page: Page) -> None:
    open_console(page, server)
    sign_in(page, token="not-a-token", device_id="dev_nobody")
    expect(page.get_by_role("alert")).to_contain_text("UNAUTHORIZED: Token is malformed (malformed)")
    expect(page.locator("#console")).to_be_hidden()
    expect(page.locator("#sign-in")).to_be_visible()


def test_a_token_signed_with_another_secret_is_refused(server: LiveServer, page: Page) -> None:
    forged = TokenService(
        secret="another-secret-" + "y" * 40, algorithm="HS256", issuer=server.settings.jwt_issuer
    )
    open_console(page, server)
    sign_in(page, token=forged.issue(role="operator", subject="ops", ttl_s=600).token)
    expect(page.get_by_role("alert")).to_contain_text("UNAUTHORIZED")
    expect(page.get_by_role("alert")).to_contain_text("(bad_signature)")
    expect(page.locator("#pick-device")).to_be_hidden()


def test_a_device_token_reaches_only_its_own_device(server: LiveServer, page: Page) -> None:
    _, token = register(server, "mine")
    other_id, _ = register(server, "not-mine")
    open_console(page, server)
    sign_in(page, token=token, device_id=other_id)
    expect(page.get_by_role("alert")).to_contain_text("FORBIDDEN")
    expect(page.locator("#console")).to_be_hidden()
    # An operator's device list is not a device token's either.
    sign_in(page, token=token)
    expect(page.get_by_role("alert")).to_contain_text("FORBIDDEN")
    expect(page.locator("#pick-device")).to_be_hidden()


def test_a_device_signs_in_from_the_keyboard_and_its_token_stays_in_memory(
    server: LiveServer, page: Page
) -> None:
    device_id, token = register(server, "kitchen speaker")
    open_console(page, server)
    page.get_by_label("Token", exact=True).focus()
    page.keyboard.type(token)
    page.keyboard.press("Tab")
    page.keyboard.type(device_id)
    page.keyboard.press("Enter")

    expect(page.locator("#console")).to_be_visible()
    expect(page.locator("#device-name")).to_have_text(f"kitchen speaker ({device_id})")
    expect(page.locator("#device-status")).to_have_text("offline")
    expect(page.locator("#persona-current")).to_have_attribute("data-persona-id", "companion")
    expect(page.locator("#who")).to_have_text(f"Device · {device_id}")
    assert page.evaluate("document.activeElement.id") == "talk-title"
    personas = httpx.get(f"{server.api_url}/personas", headers=server.operator_headers, trust_env=False)
    listed = page.locator("#persona-select option").evaluate_all("options => options.map(o => o.value)")
    assert listed == [p["id"] for p in personas.json()["personas"]]
    # The token is in no URL, no storage and no cookie, and no longer in the form.
    stored = page.evaluate(
        "JSON.stringify([location.href, {...sessionStorage}, {...localStorage}, document.cookie])"
    )
    assert token not in stored
    assert page.get_by_label("Token", exact=True).input_value() == ""

    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#console")).to_be_hidden()


def test_an_operator_picks_a_device_from_the_list(server: LiveServer, page: Page) -> None:
    first_id, _ = register(server, "lounge")
    second_id, _ = register(server, "bedroom")
    open_console(page, server)
    sign_in(page, token=server.token())
    picker = page.get_by_label("Device", exact=True)
    expect(picker).to_be_focused()
    options = picker.locator("option").evaluate_all("options => options.map(o => o.value)")
    assert {first_id, second_id} <= set(options)
    expect(picker.locator(f"option[value='{second_id}']")).to_have_text(f"bedroom — {second_id} (offline)")

    picker.select_option(second_id)
    page.get_by_role("button", name="Open this device").click()
    expect(page.locator("#device-name")).to_have_text(f"bedroom ({second_id})")
    expect(page.locator("#who")).to_have_text(f"Operator · {second_id}")


def test_switching_the_persona_of_a_device_not_connected_shows_why_it_failed(
    server: LiveServer, page: Page
) -> None:
    device_id, token = register(server, "offline")
    open_console(page, server)
    sign_in(page, token=token, device_id=device_id)
    page.get_by_label("Switch to").select_option("storyteller")
    page.get_by_role("button", name="Switch persona").click()
    expect(page.get_by_role("alert")).to_contain_text("Persona switch failed: DEVICE_OFFLINE")
    expect(page.locator("#persona-current")).to_have_attribute("data-persona-id", "companion")


@pytest.mark.parametrize("kind", ["Device token", "Operator token"])
def test_the_device_id_is_asked_only_with_a_device_token(server: LiveServer, page: Page, kind: str) -> None:
    open_console(page, server)
    page.get_by_label(kind).check()
    expect(page.get_by_label("Device id")).to_be_visible(visible=kind == "Device token")
