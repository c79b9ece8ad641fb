"""End to end with the real models: a resident's spoken fall raises an alert on the operator event
stream and a signed webhook to a local receiver; the reply tells them help has been called. The same
words said in the negative ("I did not fall") raise nothing and leave the reply as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio_fixtures.alerts import load_alert_fixtures
from benchmarks.lib.device import register_device
from server.alerts.rules import AlertRules
from server.auth import TokenService
from server.events.controller import TRANSCRIPTS_SCOPE
from tests.support.sse import open_stream
from tests.support.webhook_receiver import webhook_receiver
from tests.voice.conftest import Microphone, VoiceDevice, converse, operator_http, voice_server_with

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = {fixture.name: fixture for fixture in load_alert_fixtures()}
SECRET = "voice-webhook-secret-" + "v" * 20
HELP_LINE = AlertRules.load(None).default.help_line


async def test_a_spoken_fall_raises_an_alert_on_the_stream_and_a_signed_webhook(tmp_path: Path) -> None:
    with (
        webhook_receiver(SECRET) as receiver,
        voice_server_with(tmp_path, alert_webhook_urls=receiver.url, alert_webhook_secret=SECRET) as server,
    ):
        async with operator_http(server) as http:
            device_id, token = await register_device(http, "room 7")
        tokens = TokenService(secret=server.settings.jwt_secret, algorithm="HS256", issuer="companion-voice")
        staff = tokens.issue(role="operator", subject="staff", ttl_s=600, scopes=[TRANSCRIPTS_SCOPE]).token
        device = await VoiceDevice.connect(server, device_id, token)
        try:
            params = {"kinds": "alert", "device_id": device_id}
            async with (
                open_stream(server.api_url, staff, params=params) as stream,
                Microphone(device) as microphone,
            ):
                negated = await converse(device, microphone, FIXTURES["did_not_fall"].pcm)
                assert "fall" in negated.transcripts[0].payload["text"].lower()
                assert not negated.final.payload["text"].startswith(HELP_LINE)

                fell = await converse(device, microphone, FIXTURES["fell_kitchen"].pcm)
                heard = fell.transcripts[0].payload["text"]
                assert fell.final.payload["text"].startswith(HELP_LINE)

                alert = await stream.next()  # the first alert on this device: the negated turn raised none
                assert alert.data["rule_id"] == "fall"
                assert alert.data["severity"] == "critical"
                assert alert.data["source"] == "voice"
                assert alert.data["words"] == heard
                assert alert.data["session_id"]
            (hook,) = receiver.wait_for(1)
            assert hook.signature_ok
            assert hook.json["alert"]["alert_id"] == alert.data["alert_id"]
            assert hook.json["alert"]["words"] == heard
        finally:
            await device.close()
