"""The console's call in headless chromium, on a server without the voice models: the WebRTC peer
connects as the device, commands reach the page and are acknowledged by it, a typed turn is answered
with its latency, a persona switch reaches the page, and a newer connection of the device ends the call
with the server's reason. (Speech and reply audio: tests/voice/test_voice_console.py.)"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import httpx
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.console.conftest import open_console, register, sign_in
from tests.support.live_server import LiveServer

CONNECT_WAIT_MS = 20_000


def _start_call(page: Page, server: LiveServer, device_id: str, token: str) -> None:
    open_console(page, server)
    sign_in(page, token=token, device_id=device_id)
    page.get_by_role("button", name="Start talking").click()
    expect(page.locator("#call-state")).to_have_text("connected", timeout=CONNECT_WAIT_MS)


def test_commands_reach_the_page_and_are_acknowledged(server: LiveServer, page: Page) -> None:
    device_id, token = register(server, "call")
    _start_call(page, server, device_id, token)
    expect(page.locator("#device-status")).to_have_text("online")
    with httpx.Client(base_url=server.api_url, headers=server.operator_headers, trust_env=False) as http:
        sent = http.post(
            f"/devices/{device_id}/commands",
            json={"type": "led_control", "payload": {"color": "blue", "pattern": "pulse"}, "priority": 3},
        )
        assert sent.status_code == 202, sent.text
        command_id = sent.json()["command_id"]
        expect(page.locator("#led")).to_have_text("command")
        expect(page.locator("#led-detail")).to_contain_text('"color":"blue"')

        # The page's ack is recorded by the server: polled for up to 10 s.
        for _ in range(100):
            command = http.get(f"/devices/{device_id}/commands/{command_id}").json()
            if command["acked"]:
                break
            page.wait_for_timeout(100)
        assert command["acked"] is True, command
        assert command["ack_payload"] == {"command_id": command_id}


def test_a_typed_turn_is_answered_with_its_latency(server: LiveServer, page: Page) -> None:
    device_id, token = register(server, "typed")
    _start_call(page, server, device_id, token)
    page.get_by_label("Or type").fill("thank you")
    page.get_by_label("Or type").press("Enter")
    expect(page.locator("#transcript li.user")).to_have_text(["You (typed): thank you"])
    expect(page.locator("#transcript li.assistant:not(.pending) .text")).to_have_count(1)
    assert page.locator("#transcript li.assistant .text").inner_text()
    # Without the voice models the reply's latency_ms is one number: request received -> reply ready.
    cells = page.locator("#latency tbody tr td").all_inner_texts()
    assert re.fullmatch(r"\d+ \(reply ready\)", cells[-1]), cells


def test_a_switch_during_the_call_reaches_the_page(server: LiveServer, page: Page) -> None:
    device_id, token = register(server, "switch")
    _start_call(page, server, device_id, token)
    page.get_by_label("Switch to").select_option("storyteller")
    page.get_by_role("button", name="Switch persona").click()
    expect(page.locator("#switch-result")).to_have_text(re.compile(r"switched in \d+ ms"))
    expect(page.locator("#persona-current")).to_have_attribute("data-persona-id", "storyteller")
    expect(page.locator("#transcript li.note")).to_contain_text(["Persona switched to"])
    expect(page.locator("#events")).to_contain_text('persona_switch {"persona_id":"storyteller"')


def test_a_websocket_of_the_device_ends_the_call_with_the_servers_reason(
    server: LiveServer, page: Page
) -> None:
    device_id, token = register(server, "taken over")
    _start_call(page, server, device_id, token)
    url = f"{server.ws_url}/ws/{device_id}?token={quote(token)}"
    with connect(url, open_timeout=10) as socket:
        assert json.loads(socket.recv(timeout=10))["type"] == "connected"
        expect(page.get_by_role("alert")).to_contain_text("The server ended the call: 4409")
        expect(page.locator("#call-state")).to_have_text("ended by the server (4409)")
        expect(page.get_by_role("button", name="Start talking")).to_be_enabled()
        expect(page.get_by_role("button", name="Hang up")).to_be_disabled()
        expect(page.get_by_label("Or type")).to_be_disabled()
