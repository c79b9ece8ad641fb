"""The spec's §8 on a voice-enabled server, field by field, with the real models on a real socket.

- `POST /dialog/send` speaks the reply for a text turn as for an audio one, and takes
  audio *instead of* text; its `latency_ms` is the figure the device's metrics average.
- `GET /devices/{id}/state` says `busy` while the voice loop answers the device, and
  names the persona the device answers with.
- A `text_input` is spoken whether or not it names a session; an `audio_stream`
  without `sample_rate` (the spec's own example) is 16 kHz.
"""

from __future__ import annotations

import base64
import io
import wave
from typing import Any

import httpx
import numpy as np
import pytest

from audio_fixtures import FIXTURES_DIR, load_fixtures
from tests.server.conftest import register
from tests.server.helpers import assert_ws_error, device_state, poll, scripted_reply
from tests.support.live_server import LiveServer
from tests.voice.conftest import (
    REPLY_WAIT_S,
    WAIT_S,
    Microphone,
    VoiceDevice,
    converse,
    of_type,
    operator_http,
    rms,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = {fixture.name: fixture for fixture in load_fixtures()}
SPEECH_RMS_FLOOR = 500


async def _reply_audio(url: str) -> np.ndarray[Any, np.dtype[np.int16]]:
    """The samples behind a pre-signed reply URL, fetched without a token."""
    async with httpx.AsyncClient(timeout=10) as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200, response.text
    with wave.open(io.BytesIO(response.content), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


# POST /dialog/send


async def test_a_text_turn_is_spoken_and_its_latency_is_the_devices_metric(voice_server: LiveServer) -> None:
    async with operator_http(voice_server) as http:
        device_id, _ = await register(http)
        response = await http.post("/dialog/send", json={"device_id": device_id, "message": "thank you"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["response_text"] == await scripted_reply(http, "companion", "thank you")
        state = await device_state(http, device_id)
    assert body["response_audio_url"] is not None
    assert rms(await _reply_audio(body["response_audio_url"])) > SPEECH_RMS_FLOOR
    assert state["metrics"]["interactions_today"] == 1
    assert state["metrics"]["avg_response_latency_ms"] == body["latency_ms"]


async def test_audio_instead_of_text(voice_server: LiveServer) -> None:
    wav = base64.b64encode((FIXTURES_DIR / "thank_you.wav").read_bytes()).decode()
    async with operator_http(voice_server) as http:
        device_id, _ = await register(http)
        response = await http.post("/dialog/send", json={"device_id": device_id, "audio_base64": wav})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["response_text"] == await scripted_reply(http, "companion", "thank you")
        state = await device_state(http, device_id)
    assert body["persona_id"] == "companion"
    assert rms(await _reply_audio(body["response_audio_url"])) > SPEECH_RMS_FLOOR
    assert state["metrics"]["avg_response_latency_ms"] == body["latency_ms"]


# GET /devices/{id}/state


async def test_status_is_busy_while_a_reply_is_produced_and_played_then_online(
    voice_server: LiveServer,
) -> None:
    device = await VoiceDevice.register(voice_server)
    try:
        async with operator_http(voice_server) as http:
            before = await device_state(http, device.device_id)
            assert before["status"] == "online"
            assert before["active_persona_id"] == "companion"
            since = device.mark()
            await device.send("text_input", {"text": "thank you"})
            await poll(
                lambda: device_state(http, device.device_id),
                lambda s: s["status"] == "busy",
                within=WAIT_S,
            )
            busy_seen = device.mark()
            # Busy was reported while the reply was still on its way or playing, not after it.
            assert not device.received(
                of_type("led_control", state="listening"), since=since, until=busy_seen
            )
            await device.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_WAIT_S)
            await device.wait_for(
                of_type("led_control", state="listening"), since=since, timeout=REPLY_WAIT_S
            )
            await poll(
                lambda: device_state(http, device.device_id),
                lambda s: s["status"] == "online",
                within=WAIT_S,
            )
    finally:
        await device.close()


# WebSocket text_input and audio_stream


async def test_text_input_naming_its_session_is_spoken_in_that_session(voice_server: LiveServer) -> None:
    device = await VoiceDevice.register(voice_server)
    try:
        async with operator_http(voice_server) as http:
            created = await http.post(
                "/sessions", json={"device_id": device.device_id, "persona_id": "storyteller"}
            )
            assert created.status_code == 201, created.text
            session_id = created.json()["session_id"]
            since = device.mark()
            await device.send("text_input", {"text": "thank you", "session_id": session_id})
            final = await device.wait_for(
                of_type("audio_response", final=True), since=since, timeout=REPLY_WAIT_S
            )
            chunks = device.received(of_type("audio_response", final=False), since=since, until=final.index)
            await device.wait_for(of_type("led_control", state="listening"), since=final.index)
            context = (await http.get(f"/sessions/{session_id}/context")).json()
            state = await device_state(http, device.device_id)
    finally:
        await device.close()
    assert final.payload["persona_id"] == "storyteller"
    assert chunks
    audio = np.concatenate([np.frombuffer(base64.b64decode(c.payload["audio_b64"]), "<i2") for c in chunks])
    assert rms(audio) > SPEECH_RMS_FLOOR
    assert rms(await _reply_audio(final.payload["audio_url"])) > SPEECH_RMS_FLOOR
    assert [m["role"] for m in context["messages"]] == ["user", "assistant"]
    assert context["messages"][0]["content"] == "thank you"
    assert (state["active_session_id"], state["active_persona_id"]) == (session_id, "storyteller")


async def test_text_input_naming_an_unknown_session_is_refused(voice_server: LiveServer) -> None:
    device = await VoiceDevice.register(voice_server)
    try:
        since = device.mark()
        await device.send("text_input", {"text": "thank you", "session_id": "sess_unknown"})
        error = await device.wait_for(of_type("error"), since=since)
        assert_ws_error({"type": error.type, "payload": error.payload}, "SESSION_NOT_FOUND")
        await device.heartbeat_acked()
        assert not device.received(of_type("audio_response"), since=since)
    finally:
        await device.close()


async def test_audio_stream_without_a_sample_rate_is_16_khz(voice_server: LiveServer) -> None:
    async with operator_http(voice_server) as http:
        expected = await scripted_reply(http, "companion", "thank you")
    device = await VoiceDevice.register(voice_server)
    try:
        async with Microphone(device, declare_rate=False) as microphone:
            turn = await converse(device, microphone, FIXTURES["thank_you"].pcm)
    finally:
        await device.close()
    assert not turn.of(of_type("error"))
    assert len(turn.transcripts) == 1
    assert turn.final.payload["text"] == expected
    assert rms(turn.audio()) > SPEECH_RMS_FLOOR
