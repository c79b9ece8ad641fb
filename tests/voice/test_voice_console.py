"""The console talking to a device's voice loop in a real headless chromium, over WebRTC.

Chromium's fake microphone plays a committed fixture (at 48 kHz, after 3 s of silence so the call is
up first, then a minute of silence: Chromium loops the file, and one utterance must be heard once).
The page signs in with the device's own token, starts talking, and must show what the server heard,
the persona's answer and the turn's latency breakdown; the persona's voice must arrive on the page's
reply track (the browser's own receiver statistics, shown on the page). Text typed on the page then
goes over the same data channel and is answered; the page requests nothing outside the server.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from audio_fixtures import load_fixtures
from server.voice.latency import STAGES
from tests.support.browser import chromium, fake_microphone_wav, screenshot_on_failure
from tests.support.live_server import LiveServer
from tests.support.wer import word_error_rate
from tests.voice.conftest import REPLY_WAIT_S

FIXTURE = next(f for f in load_fixtures() if f.name == "hello_how_are_you")
MAX_WER = 0.3
"""The bound tests/pipeline/test_asr.py holds tiny.en to on these fixtures."""
LEAD_S = 3.0
TAIL_S = 60.0
CONNECT_WAIT_S = 20.0


def _register(server: LiveServer) -> tuple[str, str]:
    response = httpx.post(
        f"{server.api_url}/devices",
        json={"name": "console speaker", "device_type": "custom"},
        headers=server.operator_headers,
        timeout=10,
        trust_env=False,
    )
    assert response.status_code == 201, response.text
    return response.json()["device_id"], response.json()["auth_token"]


def _companion(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(
        f"{server.api_url}/personas/companion", headers=server.operator_headers, trust_env=False
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def _scripted(persona: dict[str, Any], keyword: str) -> str:
    """What the persona's offline script answers to a message that is just `keyword` (read from its
    file through the API, as tests.server.helpers.scripted_reply does)."""
    for rule in persona["behavior_config"]["offline_script"]["rules"]:
        if keyword in rule["keywords"]:
            return str(rule["reply"]).replace("{name}", persona["name"])
    raise AssertionError(f"the persona has no offline rule for {keyword!r}")


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Page]:
    microphone = fake_microphone_wav(
        FIXTURE.pcm, FIXTURE.sample_rate, tmp_path / "microphone.wav", lead_s=LEAD_S, tail_s=TAIL_S
    )
    with chromium(microphone_wav=microphone) as browser:
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        context.close()


def test_the_console_hears_the_fixture_and_plays_the_persona(
    voice_server: LiveServer, page: Page, request: pytest.FixtureRequest
) -> None:
    device_id, token = _register(voice_server)
    companion = _companion(voice_server)
    # A first "Hello, how are you today?" is greeted back, or answered as "how are you" is.
    answers = {companion["behavior_config"]["greeting"], _scripted(companion, "how are you")}
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(voice_server.base_url + "/") else outside.append(r.url)
    )
    with screenshot_on_failure(page, request.node.nodeid):
        page.goto(f"{voice_server.base_url}/console")
        page.wait_for_selector("body[data-ready='true']")
        page.get_by_label("Token", exact=True).fill(token)
        page.get_by_label("Device id").fill(device_id)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Start talking").click()
        expect(page.locator("#call-state")).to_have_text("connected", timeout=CONNECT_WAIT_S * 1000)
        expect(page.locator("#device-status")).to_have_text("online")

        heard = page.locator("#transcript li.user .text")
        expect(heard).to_have_count(1, timeout=(LEAD_S + REPLY_WAIT_S) * 1000)
        spoken = heard.inner_text()
        assert word_error_rate(FIXTURE.text, spoken) <= MAX_WER, spoken

        reply = page.locator("#transcript li.assistant:not(.pending) .text")
        expect(reply).to_have_count(1, timeout=REPLY_WAIT_S * 1000)
        assert reply.inner_text() in answers
        expect(page.locator("#transcript li.assistant .speaker")).to_have_text("Sam:")

        # The turn's breakdown, as the server measured it: one row, a number for every stage.
        row = page.locator("#latency tbody tr")
        expect(row).to_have_count(1)
        cells = row.locator("td").all_inner_texts()
        assert len(cells) == 2 + len(STAGES)
        assert all(re.fullmatch(r"-?\d+", cell) for cell in cells[2:]), cells

        # The persona's voice reached the page's reply track (the browser's receiver statistics).
        page.wait_for_function(
            "Number(document.getElementById('stat-energy').dataset.value) > 0.0001",
            timeout=REPLY_WAIT_S * 1000,
        )
        assert int(page.locator("#stat-bytes").get_attribute("data-value") or 0) > 0
        expect(page.locator("#led")).to_have_text("listening", timeout=REPLY_WAIT_S * 1000)
        expect(page.locator("#events")).to_contain_text(re.compile(r'led_control \{[^}]*"state":"speaking"'))

        # Typed text goes over the same channel and is answered the same way.
        page.get_by_label("Or type").fill("thank you")
        page.get_by_label("Or type").press("Enter")
        expect(heard).to_have_text([spoken, "thank you"])
        expect(reply).to_have_count(2, timeout=REPLY_WAIT_S * 1000)
        assert reply.nth(1).inner_text() == _scripted(companion, "thank you")
        expect(row).to_have_count(2)
        assert outside == []
