"""The voice loop over WebRTC, with the real models: an aiortc device streams fixtures as its microphone
track (48 kHz Opus, in real time) and hears its persona on the incoming track.

One device, in order: a spoken turn (transcript and the final `audio_response` on the `events`
channel, the reply's speech on the track, no audio chunks on the channel); a persona switch in
place over REST (the `persona_switch` command on the channel, acknowledged); a long story and the
user speaking over it (`stop_playback`, the track falls silent, the answer in the new persona's
words); then the peer closes and the device is offline.
"""

from __future__ import annotations

import io
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from audio_fixtures import load_fixtures
from benchmarks.lib.device import Received
from benchmarks.lib.webrtc_device import WebRTCDevice, at_48k
from tests.server.helpers import scripted_reply, wait_for_status
from tests.support.live_server import LiveServer
from tests.support.wer import word_error_rate
from tests.voice.conftest import REPLY_WAIT_S, Microphone, Turn, of_type, operator_http

pytestmark = pytest.mark.asyncio(loop_scope="module")

FIXTURES = {fixture.name: fixture for fixture in load_fixtures()}
MAX_WER = 0.3
STORYTELLER = "storyteller"
STORY_HEARD_S = 2.5
"""Story heard before the user speaks over it."""
JITTER_S = 0.2
"""Audio already on its way (the peer's jitter buffer) when a cut is announced on the data channel."""


@dataclass
class Story:
    device: WebRTCDevice
    greeting: Turn
    greeting_wav_s: float
    switch: Received
    switch_acked: bool
    stop_playback: Received
    answer: Turn
    expected: dict[str, str]


async def _wav_seconds(http: httpx.AsyncClient, url: str) -> float:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    with wave.open(io.BytesIO(response.content), "rb") as wav:
        return wav.getnframes() / wav.getframerate()


async def _converse(device: WebRTCDevice, microphone: Microphone, name: str) -> Turn:
    since = device.mark()
    utterance = await microphone.say(at_48k(FIXTURES[name].pcm, FIXTURES[name].sample_rate))
    final = await device.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_WAIT_S)
    listening = await device.wait_for(of_type("led_control", state="listening"), since=final.index + 1)
    return Turn(utterance=utterance, messages=device.messages[since : listening.index + 1])


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def story(voice_server: LiveServer) -> AsyncIterator[Story]:
    async with operator_http(voice_server) as http:
        expected = {
            "hello_how_are_you": await scripted_reply(http, "companion", "how are you"),
            "thank_you": await scripted_reply(http, STORYTELLER, "thank you"),
        }
        response = await http.post("/devices", json={"name": "webrtc", "device_type": "custom"})
        assert response.status_code == 201, response.text
        device_id, token = response.json()["device_id"], response.json()["auth_token"]
        device = await WebRTCDevice.connect(voice_server.base_url, device_id, token)
        async with Microphone(device, sample_rate=48_000, binary=True) as microphone:
            greeting = await _converse(device, microphone, "hello_how_are_you")
            greeting_wav_s = await _wav_seconds(http, greeting.final.payload["audio_url"])

            since = device.mark()
            response = await http.post(
                f"/devices/{device_id}/persona/switch", json={"target_persona_id": STORYTELLER}
            )
            assert response.status_code == 200, response.text
            switch = await device.wait_for(of_type("persona_switch"), since=since)
            await device.send("ack", {"command_id": switch.payload["command_id"]})
            await device.heartbeat_acked()
            command = await http.get(f"/devices/{device_id}/commands/{switch.payload['command_id']}")

            since = device.mark()
            await microphone.say(at_48k(FIXTURES["story_sea"].pcm, FIXTURES["story_sea"].sample_rate))
            speaking = await device.wait_for(
                of_type("led_control", state="speaking"), since=since, timeout=REPLY_WAIT_S
            )
            # Well into the story: speech within 1.5 s of a turn's end would continue that turn instead.
            await device.speaker.wait_voiced(speaking.at, STORY_HEARD_S)
            answer = await _converse(device, microphone, "thank_you")
            stop = await device.wait_for(of_type("stop_playback"), since=since)
        yield Story(
            device=device,
            greeting=greeting,
            greeting_wav_s=greeting_wav_s,
            switch=switch,
            switch_acked=command.json()["acked"],
            stop_playback=stop,
            answer=answer,
            expected=expected,
        )
        await device.close()
        await wait_for_status(http, device_id, "offline")


async def test_the_spoken_turn_is_transcribed_and_answered(story: Story) -> None:
    turn = story.greeting
    assert len(turn.transcripts) == 1, [m.payload["text"] for m in turn.transcripts]
    transcript = turn.transcripts[0].payload["text"]
    assert word_error_rate(FIXTURES["hello_how_are_you"].text, transcript) <= MAX_WER, transcript
    assert turn.final.payload["text"] == story.expected["hello_how_are_you"]
    assert turn.final.payload["persona_id"] == "companion"
    assert turn.final.payload["audio_url"].startswith("http")


async def test_the_reply_plays_on_the_track_not_the_channel(story: Story) -> None:
    turn = story.greeting
    assert not turn.chunks  # no base64 audio on the data channel
    heard = story.device.speaker
    first = heard.first_voiced(turn.utterance.ended)
    assert first is not None  # after the utterance ended (`first_voiced` looks from then on)
    # The whole reply is heard, in real time: most of the stored WAV is speech above the floor.
    voiced = heard.voiced_s(turn.utterance.ended, turn.messages[-1].at + 0.5)
    assert 0.5 * story.greeting_wav_s <= voiced <= story.greeting_wav_s + 0.1, (voiced, story.greeting_wav_s)


async def test_the_persona_switches_in_place(story: Story) -> None:
    assert story.switch.payload["persona_id"] == STORYTELLER
    assert story.switch_acked
    assert story.answer.final.payload["persona_id"] == STORYTELLER
    assert story.answer.final.payload["text"] == story.expected["thank_you"]


async def test_speaking_over_the_story_silences_the_track(story: Story) -> None:
    stop = story.stop_playback
    answer = story.answer
    assert stop.at < answer.transcripts[0].at
    heard = story.device.speaker
    # Cut: nothing of the story plays after the stop (but what was already on its way), and the
    # answer is heard after its transcript.
    assert heard.voiced_s(stop.at + JITTER_S, answer.transcripts[0].at) == 0
    assert heard.voiced_s(answer.transcripts[0].at, answer.messages[-1].at + 0.5) > 0.5
