"""One device cannot stall everyone's voice through REST audio (issue 12).

The attack: one device's token sending long noise recordings to `POST /dialog/send`, several at
once, so the shared recogniser is busy with them while other devices speak. Here, on the real
app with its real models: every request counts against the dialog limit before any work,
whatever the recogniser finds; a recording longer than `dialog_audio_max_s` is refused before
it reaches the recogniser; and a device has one recording in progress at a time.
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import numpy as np
import pytest

from pipeline.audio import wav_bytes
from tests.server.conftest import register
from tests.server.helpers import assert_error, away_from_minute_boundary
from tests.support.live_server import LiveServer
from tests.voice.conftest import operator_http, voice_server_with

pytestmark = pytest.mark.asyncio(loop_scope="module")

RATE = 16_000


def _noise_wav(seconds: float, *, seed: int = 12) -> str:
    """White noise at a moderate level: what the attack sent (no speech in it)."""
    rng = np.random.default_rng(seed)
    pcm = np.clip(rng.normal(0, 3000, size=int(seconds * RATE)), -32768, 32767).astype(np.int16)
    return base64.b64encode(wav_bytes(pcm, RATE)).decode()


def _silence_wav(seconds: float) -> str:
    return base64.b64encode(wav_bytes(np.zeros(int(seconds * RATE), dtype=np.int16), RATE)).decode()


def _device_http(server: LiveServer, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    )


async def test_a_recording_longer_than_the_bound_is_refused_before_the_recogniser(
    voice_server: LiveServer,
) -> None:
    async with operator_http(voice_server) as operator:
        device_id, token = await register(operator)
    async with _device_http(voice_server, token) as http:
        response = await http.post(
            "/dialog/send", json={"device_id": device_id, "audio_base64": _noise_wav(31)}
        )
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["details"]["reason"] == "too_long"
    assert body["details"]["errors"][0]["field"] == "audio_base64"


async def test_recordings_with_no_speech_count_against_the_dialog_limit(tmp_path: Path) -> None:
    with voice_server_with(tmp_path, dialog_turns_per_minute=2) as server:
        async with operator_http(server) as operator:
            device_id, token = await register(operator)
        await away_from_minute_boundary(margin_s=20)
        async with _device_http(server, token) as http:
            answers = [
                await http.post(
                    "/dialog/send", json={"device_id": device_id, "audio_base64": _silence_wav(2)}
                )
                for _ in range(3)
            ]
    assert [assert_error(a, 422, "VALIDATION_ERROR")["details"]["reason"] for a in answers[:2]] == [
        "no_speech",
        "no_speech",
    ]
    body = assert_error(answers[2], 429, "RATE_LIMITED")
    assert body["details"]["scope"] == "dialog turns per device"


async def test_a_device_has_one_recording_in_progress_at_a_time(voice_server: LiveServer) -> None:
    async with operator_http(voice_server) as operator:
        device_id, token = await register(operator)
        other_id, other_token = await register(operator)
    recording = _noise_wav(29)  # four pieces on the recogniser: long enough for the others to arrive
    async with _device_http(voice_server, token) as http:
        answers = await asyncio.gather(
            *(
                http.post("/dialog/send", json={"device_id": device_id, "audio_base64": recording})
                for _ in range(3)
            )
        )
    busy = [a for a in answers if a.status_code == 429]
    assert busy, [a.status_code for a in answers]
    for answer in busy:
        body = assert_error(answer, 429, "RATE_LIMITED")
        assert body["details"]["scope"] == "REST audio turns in progress per device"
        assert answer.headers["retry-after"] == "1"
    assert all(a.status_code in (200, 422, 429) for a in answers)
    # Once answered, the device may send its next recording; another device was never limited by it.
    async with _device_http(voice_server, token) as http:
        again = await http.post("/dialog/send", json={"device_id": device_id, "audio_base64": _noise_wav(1)})
    assert again.status_code != 429, again.text
    async with _device_http(voice_server, other_token) as http:
        other = await http.post("/dialog/send", json={"device_id": other_id, "audio_base64": _noise_wav(1)})
    assert other.status_code != 429, other.text


async def test_a_devices_reply_audio_past_its_bound_lets_the_oldest_go(tmp_path: Path) -> None:
    with voice_server_with(tmp_path, reply_audio_max_bytes_per_device=1) as server:
        async with operator_http(server) as operator:
            device_id, _ = await register(operator)
            other_id, _ = await register(operator)
            urls = []
            for sender in (device_id, other_id, device_id):
                response = await operator.post("/dialog/send", json={"device_id": sender, "message": "Hello"})
                assert response.status_code == 200, response.text
                urls.append(response.json()["response_audio_url"])
        async with httpx.AsyncClient(timeout=10) as anonymous:
            first, others, latest = [await anonymous.get(url) for url in urls]
    assert_error(first, 404, "AUDIO_NOT_FOUND")  # the device's older reply went to make room
    assert others.status_code == 200  # another device's reply is not this device's to drop
    assert latest.status_code == 200
