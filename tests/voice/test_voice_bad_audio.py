"""Audio a device or a client should not send: an error in the spec's body, and the connection stays up.

Over the socket each case gets an `error` message (the spec's error body,
`VALIDATION_ERROR`, with a machine-readable `details.reason`), and a heartbeat
afterwards is still answered. Over REST, `POST /dialog/send` with unusable
audio is a 422, never a 5xx; with a fixture's WAV it is transcribed, answered
and spoken.
"""

from __future__ import annotations

import base64
import io
import wave
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import numpy as np
import pytest
import soxr

from audio_fixtures import FIXTURES_DIR, load_fixtures
from pipeline.audio import wav_bytes
from tests.server.conftest import register
from tests.server.helpers import assert_error, assert_ws_error, scripted_reply
from tests.support.live_server import LiveServer
from tests.voice.conftest import VoiceDevice, of_type, operator_http, rms

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = {fixture.name: fixture for fixture in load_fixtures()}
FRAME = np.zeros(320, dtype="<i2").tobytes()
"""20 ms of 16 kHz digital silence: audio that is fine in itself."""

Send = Callable[[VoiceDevice, int], Awaitable[None]]


def audio_stream(audio_b64: str, **payload: Any) -> Send:
    async def send(device: VoiceDevice, max_bytes: int) -> None:
        await device.send("audio_stream", {"audio_b64": audio_b64, **payload})

    return send


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def _oversize(device: VoiceDevice, max_bytes: int) -> None:
    await device.send("audio_stream", {"audio_b64": _b64(bytes(max_bytes + 2)), "sample_rate": 16_000})


async def _oversize_binary(device: VoiceDevice, max_bytes: int) -> None:
    await device.send_raw(bytes(max_bytes + 2))


def binary(data: bytes) -> Send:
    async def send(device: VoiceDevice, max_bytes: int) -> None:
        await device.send_raw(data)

    return send


# (case, the socket's ?sample_rate=, what the device sends, details.reason)
# Audio that declares no rate is not among them: it is 16 kHz (test_voice_spec.py).
CASES: list[tuple[str, int | None, Send, str]] = [
    ("unsupported rate", None, audio_stream(_b64(FRAME), sample_rate=11_025), "unsupported_rate"),
    ("odd byte count", None, audio_stream(_b64(FRAME[:-1]), sample_rate=16_000), "odd_length"),
    ("invalid base64", None, audio_stream("not base64!!", sample_rate=16_000), "invalid_base64"),
    ("oversize chunk", None, _oversize, "too_large"),
    ("binary garbage of odd length", 16_000, binary(b"\x8f\x01\xfe\x00\x13"), "odd_length"),
    ("oversize binary frame", 16_000, _oversize_binary, "too_large"),
]


@pytest.mark.parametrize(("case", "query_rate", "send", "reason"), CASES, ids=[c[0] for c in CASES])
async def test_bad_audio_gets_an_error_and_the_connection_stays_up(
    voice_server: LiveServer, case: str, query_rate: int | None, send: Send, reason: str
) -> None:
    device = await VoiceDevice.register(voice_server, sample_rate=query_rate)
    try:
        since = device.mark()
        await send(device, voice_server.settings.max_audio_chunk_bytes)
        error = await device.wait_for(of_type("error"), since=since)
        body = assert_ws_error({"type": error.type, "payload": error.payload}, "VALIDATION_ERROR")
        assert body["details"]["reason"] == reason, body
        await device.heartbeat_acked()
        # And good audio is still taken: a frame of silence gets no error.
        since = device.mark()
        await device.send("audio_stream", {"audio_b64": _b64(FRAME), "sample_rate": 16_000})
        await device.heartbeat_acked()
        assert not device.received(of_type("error"), since=since)
    finally:
        await device.close()


async def test_unsupported_rate_in_the_query_is_refused_on_the_first_binary_frame(
    voice_server: LiveServer,
) -> None:
    device = await VoiceDevice.register(voice_server, sample_rate=11_025)
    try:
        await device.send_raw(FRAME)
        error = await device.wait_for(of_type("error"))
        body = assert_ws_error({"type": error.type, "payload": error.payload}, "VALIDATION_ERROR")
        assert body["details"]["reason"] == "unsupported_rate"
        await device.heartbeat_acked()
    finally:
        await device.close()


# POST /dialog/send with audio


async def _dialog(server: LiveServer, audio_base64: str) -> httpx.Response:
    async with operator_http(server) as http:
        device_id, _ = await register(http)
        response = await http.post(
            "/dialog/send", json={"device_id": device_id, "audio_base64": audio_base64}
        )
    return response


async def test_dialog_with_a_wav_is_transcribed_answered_and_spoken(voice_server: LiveServer) -> None:
    wav_file = (FIXTURES_DIR / "thank_you.wav").read_bytes()
    response = await _dialog(voice_server, _b64(wav_file))
    assert response.status_code == 200, response.text
    body = response.json()
    async with operator_http(voice_server) as http:
        assert body["response_text"] == await scripted_reply(http, "companion", "thank you")
    assert body["persona_id"] == "companion"
    async with httpx.AsyncClient(timeout=10) as anonymous:
        audio = await anonymous.get(body["response_audio_url"])
    assert audio.status_code == 200, audio.text
    with wave.open(io.BytesIO(audio.content), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        rate = wav.getframerate()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    seconds = len(pcm) / rate
    assert 1.5 <= len(body["response_text"].split()) / seconds <= 4.5
    assert rms(pcm) > 500


SILENCE_WAV = wav_bytes(np.zeros(16_000, dtype=np.int16), 16_000)
SPEECH_AT_11025_HZ = wav_bytes(soxr.resample(FIXTURES["thank_you"].pcm, 16_000, 11_025), 11_025)


@pytest.mark.parametrize(
    ("audio_base64", "reason"),
    [
        ("this is not base64!", "invalid_base64"),
        (_b64(b"RIFF, but not really a WAV file at all"), "not_wav"),
        (_b64(SILENCE_WAV), "no_speech"),
        (_b64(SPEECH_AT_11025_HZ), "unsupported_rate"),
    ],
    ids=["invalid base64", "not a WAV", "a WAV of silence", "speech at 11025 Hz"],
)
async def test_dialog_with_unusable_audio_is_a_validation_error(
    voice_server: LiveServer, audio_base64: str, reason: str
) -> None:
    response = await _dialog(voice_server, audio_base64)
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["details"]["reason"] == reason
    assert body["details"]["errors"][0]["field"] == "audio_base64"
