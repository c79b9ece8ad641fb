"""Group activities on real devices: a quiz and a story, with the real models on a real socket.

Three devices of one facility (Kitchen, Lounge, Garden) take part. Each question or chapter is
cued to every connected device for one `starts_at` and said then in the activity persona's voice;
the devices answer by speaking (committed fixtures, audio_fixtures/answers) or by pressing the
option's button; the quizmaster says who was right and the scores end in `GET` of the activity. A
device that disconnects mid-game drops out without stopping it, and rejoins when it reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx

from audio_fixtures.answers import load_answer_fixtures
from server.activities.answers import TAKEN
from tests.server.helpers import poll
from tests.support.live_server import LiveServer
from tests.voice.conftest import REPLY_WAIT_S, Microphone, Received, VoiceDevice, of_type, operator_http

ANSWERS = load_answer_fixtures()
STEP_S = 90.0
"""From one cue of the game to the next: lines said in real time on a loaded two-core machine."""
PLACES = ("Kitchen", "Lounge", "Garden")


def cue(event_type: str, **fields: Any) -> Any:
    return lambda m: (
        of_type("sync_event", event_type=event_type)(m)
        and all(m.payload.get(k) == v for k, v in fields.items())
    )


async def register(http: httpx.AsyncClient, group_id: str, place: str) -> tuple[str, str]:
    body = {"name": f"{place} speaker", "device_type": "custom", "location": place, "group_id": group_id}
    response = await http.post("/devices", json=body)
    assert response.status_code == 201, response.text
    return response.json()["device_id"], response.json()["auth_token"]


@contextlib.asynccontextmanager
async def residents(
    server: LiveServer,
) -> AsyncIterator[tuple[httpx.AsyncClient, list[VoiceDevice], list[str]]]:
    """Three connected devices of one new group, kept alive by heartbeats; with their tokens."""
    group_id = f"home-{secrets.token_hex(3)}"
    async with operator_http(server) as http:
        registered = [await register(http, group_id, place) for place in PLACES]
        devices = [await VoiceDevice.connect(server, d, t) for d, t in registered]
        beats = asyncio.create_task(_heartbeats(devices))
        try:
            yield http, devices, [t for _, t in registered]
        finally:
            beats.cancel()
            for device in devices:
                await device.close()


async def _heartbeats(devices: list[VoiceDevice]) -> None:
    while True:
        await asyncio.sleep(5)
        for device in devices:
            if not device.is_closed:
                with contextlib.suppress(Exception):
                    await device.send("heartbeat", {})


async def heard(device: VoiceDevice, since: int, starts: str) -> Received:
    """The device's next line said in full (its final `audio_response`) whose text starts so."""
    return await device.wait_for(
        lambda m: of_type("audio_response", final=True)(m) and m.payload["text"].startswith(starts),
        since=since,
        timeout=STEP_S,
    )


async def say(device: VoiceDevice, fixture: str, since: int) -> None:
    """Speak an answer; returns once the device has acknowledged it."""
    async with Microphone(device, binary=True) as microphone:
        await microphone.say(ANSWERS[fixture].pcm)
        await taken(device, since)


async def press(device: VoiceDevice, button: str, since: int) -> None:
    await device.send("button_press", {"button": button, "action": "press"})
    await taken(device, since)


async def taken(device: VoiceDevice, since: int) -> None:
    acknowledged = of_type("audio_response", final=True)
    reply = await device.wait_for(
        lambda m: acknowledged(m) and m.payload["text"] in TAKEN.values(), since=since, timeout=REPLY_WAIT_S
    )
    assert reply.payload["persona_id"] != "companion"  # the game took the turn, not the companion


def button_for(question: Received, text: str) -> str:
    return str(next(o["button"] for o in question.payload["options"] if o["text"] == text))


async def test_a_quiz_on_three_devices_answered_by_voice_and_button(voice_server: LiveServer) -> None:
    async with residents(voice_server) as (http, devices, tokens):
        kitchen, lounge, garden = devices
        body = {
            "activity_type": "trivia",
            "device_ids": [d.device_id for d in devices],
            "persona_id": "entertainer",
            "config": {"rounds": 2, "answer_window_s": 10, "questions": ["geo-e1", "nat-e1"]},
        }
        response = await http.post("/coordination/group-activity", json=body)
        assert response.status_code == 201, response.text
        activity_id = response.json()["activity_id"]

        # Question 1, to all three at one moment, said in the quizmaster's voice.
        asked = [await d.wait_for(cue("trivia_question", round=1), timeout=STEP_S) for d in devices]
        assert len({q.payload["starts_at"] for q in asked}) == 1
        for device, question in zip(devices, asked, strict=True):
            line = await heard(device, question.index, "Question 1 of 2. What is the capital city of France?")
            assert line.payload["persona_id"] == "entertainer"
        since = [d.mark() for d in devices]
        await asyncio.gather(
            say(kitchen, "paris", since[0]),  # right
            say(lounge, "london", since[1]),  # wrong
            press(garden, button_for(asked[2], "Paris"), since[2]),  # right, by button
        )
        results = [await d.wait_for(cue("trivia_result", round=1), timeout=STEP_S) for d in devices]
        assert results[0].payload["right_device_ids"] == [kitchen.device_id, garden.device_id]
        await heard(kitchen, results[0].index, "The answer is Paris. Well done, Kitchen and Garden!")

        # The Lounge drops out: question 2 goes on without it.
        await lounge.close()
        second = [
            await d.wait_for(cue("trivia_question", round=2), timeout=STEP_S) for d in (kitchen, garden)
        ]
        assert second[0].payload["device_ids"] == [kitchen.device_id, garden.device_id]
        for device, question in zip((kitchen, garden), second, strict=True):
            await heard(device, question.index, "Question 2 of 2. How many legs does a spider have?")
        # It reconnects, and rejoins for the end.
        back = await VoiceDevice.connect(voice_server, lounge.device_id, tokens[1])
        devices[1] = back
        since = [d.mark() for d in (kitchen, garden)]
        await asyncio.gather(say(kitchen, "eight", since[0]), say(garden, "six_legs", since[1]))

        for device in (kitchen, garden, back):
            end = await device.wait_for(cue("trivia_end"), timeout=STEP_S)
            await heard(device, end.index, "That's the end of the quiz! The winner is Kitchen with 2 points.")
        scores = {kitchen.device_id: 2, lounge.device_id: 0, garden.device_id: 1}
        got = await poll(
            lambda: http.get(f"/coordination/activities/{activity_id}"),
            lambda r: r.json()["status"] == "stopped",
            within=STEP_S,
        )
        assert got.json()["scores"] == scores
        assert got.json()["current_round"] == 2


async def test_a_story_told_on_three_devices_with_votes(voice_server: LiveServer) -> None:
    async with residents(voice_server) as (http, devices, _):
        kitchen, lounge, garden = devices
        body = {
            "activity_type": "story",
            "device_ids": [d.device_id for d in devices],
            "persona_id": "storyteller",
            "config": {"story": "train", "vote_window_s": 8},
        }
        response = await http.post("/coordination/group-activity", json=body)
        assert response.status_code == 201, response.text
        activity_id = response.json()["activity_id"]

        opening = [await d.wait_for(cue("story_chapter", chapter="start"), timeout=STEP_S) for d in devices]
        assert len({c.payload["starts_at"] for c in opening}) == 1
        for device, chapter in zip(devices, opening, strict=True):
            told = await heard(device, chapter.index, "Gather round for a story: The Little Steam Train.")
            assert told.payload["persona_id"] == "storyteller"

        # The first choice, by voice (two for the river) and a button (one for the viaduct).
        choice = [await d.wait_for(cue("story_choice", number=1), timeout=STEP_S) for d in devices]
        for device, asked in zip(devices, choice, strict=True):
            await heard(device, asked.index, "Which way should the train go")
        since = [d.mark() for d in devices]
        await asyncio.gather(
            say(kitchen, "the_river", since[0]),
            say(lounge, "river", since[1]),
            press(garden, "a", since[2]),
        )
        vote = await kitchen.wait_for(cue("story_vote", number=1), timeout=STEP_S)
        assert vote.payload["votes"] == {"viaduct": 1, "river": 2}
        assert vote.payload["chosen"] == "river"
        river = await garden.wait_for(cue("story_chapter", chapter="river"), timeout=STEP_S)
        await heard(garden, river.index, "The train followed the winding river")

        # The second choice, by buttons: two for the seaside.
        second = [await d.wait_for(cue("story_choice", number=2), timeout=STEP_S) for d in devices]
        for device, asked in zip(devices, second, strict=True):
            await heard(device, asked.index, "Should the train stop at the seaside")
        since = [d.mark() for d in devices]
        await asyncio.gather(
            press(kitchen, "a", since[0]), press(lounge, "a", since[1]), press(garden, "b", since[2])
        )
        ending = await lounge.wait_for(cue("story_chapter", chapter="seaside"), timeout=STEP_S)
        await heard(lounge, ending.index, "At the seaside")
        await lounge.wait_for(cue("story_end"), timeout=STEP_S)
        got = await poll(
            lambda: http.get(f"/coordination/activities/{activity_id}"),
            lambda r: r.json()["status"] == "stopped",
            within=STEP_S,
        )
        assert got.json()["current_round"] == 3
