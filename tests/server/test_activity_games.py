"""A trivia game on two instances over one real redis-server: one instance runs it (its lease in
Redis), both instances' devices get its questions, and when the instance running it goes away the
other one takes the game over and finishes it, from where the store says it stood. Stopping a game
from either instance ends it without another question. (No voice models here: the questions are
cued, not said; tests/voice has the game said and answered.)"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from datetime import UTC, datetime
from typing import Any

import httpx
from redis.asyncio import Redis

from tests.server.conftest import connect, register
from tests.server.helpers import poll
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer
from tests.support.sse import open_stream

QUIZ = {"rounds": 2, "answer_window_s": 2, "questions": ["geo-e1", "nat-e1"]}
STEP_S = 30.0


def operator(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.api_url, headers=server.operator_headers, timeout=10)


async def next_cue(socket: DeviceClient, event_type: str, **fields: Any) -> dict[str, Any]:
    """The device's next `sync_event` of `event_type` with these fields (heartbeats meanwhile)."""
    for _ in range(int(STEP_S)):
        try:
            message = await socket.receive(timeout=1.0)
        except TimeoutError:
            await socket.send("heartbeat", {})
            continue
        payload: dict[str, Any] = message["payload"]
        wanted = message["type"] == "sync_event" and payload.get("event_type") == event_type
        if wanted and all(payload.get(k) == v for k, v in fields.items()):
            return payload
    raise AssertionError(f"no {event_type} {fields} within {STEP_S} s")


async def holder(redis_url: str, prefix: str, activity_id: str) -> str:
    client = Redis.from_url(redis_url)
    try:
        value = await client.get(f"{prefix}activity-lease:{activity_id}")
    finally:
        await client.aclose()
    return value.decode() if isinstance(value, bytes) else str(value or "")


async def test_the_instance_running_a_game_goes_away_and_the_other_finishes_it(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str
) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    group_id = f"grp-{secrets.token_hex(4)}"
    with ExitStack() as first_stack, ExitStack() as second_stack:
        a = first_stack.enter_context(server_factory(redis_url=redis_url, redis_key_prefix=prefix))
        b = second_stack.enter_context(server_factory(redis_url=redis_url, redis_key_prefix=prefix))
        async with operator(a) as on_a:
            first = await register(on_a, group_id=group_id, location="Kitchen")
            second = await register(on_a, group_id=group_id, location="Lounge")
            async with await connect(a, *first) as at_a, await connect(b, *second) as at_b:
                body = {
                    "activity_type": "trivia",
                    "device_ids": [first[0], second[0]],
                    "persona_id": "entertainer",
                    "config": QUIZ,
                }
                started = await on_a.post("/coordination/group-activity", json=body)
                assert started.status_code == 201, started.text
                activity_id = started.json()["activity_id"]

                asked = [await next_cue(s, "trivia_question", round=1) for s in (at_a, at_b)]
                assert asked[0]["starts_at"] == asked[1]["starts_at"]
                assert asked[0]["device_ids"] == [first[0], second[0]]
                running = await holder(redis_url, prefix, activity_id)
                assert running in (a.settings.instance_id, b.settings.instance_id)

                # The instance running the game goes away (with the device connected to it).
                gone, stays = (first_stack, b) if running == a.settings.instance_id else (second_stack, a)
                survivor = at_b if stays is b else at_a
                survivor_id = second[0] if stays is b else first[0]
                gone.close()

                await next_cue(survivor, "trivia_result", round=1)
                question = await next_cue(survivor, "trivia_question", round=2)
                assert question["device_ids"] == [survivor_id]  # the other device went with its instance
                end = await next_cue(survivor, "trivia_end")
                assert end["scores"] == {first[0]: 0, second[0]: 0}
                assert await holder(redis_url, prefix, activity_id) in ("", stays.settings.instance_id)

        async with operator(stays) as http:
            got = await poll(
                lambda: http.get(f"/coordination/activities/{activity_id}"),
                lambda r: r.json()["status"] == "stopped",
                within=STEP_S,
            )
            assert got.json()["current_round"] == 2


async def test_a_game_stopped_from_the_other_instance_asks_nothing_more(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str
) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    group_id = f"grp-{secrets.token_hex(4)}"
    with (
        server_factory(redis_url=redis_url, redis_key_prefix=prefix) as a,
        server_factory(redis_url=redis_url, redis_key_prefix=prefix) as b,
    ):
        async with operator(a) as on_a, operator(b) as on_b:
            device = await register(on_a, group_id=group_id)
            async with await connect(a, *device) as socket:
                body = {
                    "activity_type": "trivia",
                    "device_ids": [device[0]],
                    "persona_id": "entertainer",
                    "config": {**QUIZ, "answer_window_s": 60},
                }
                started = await on_a.post("/coordination/group-activity", json=body)
                activity_id = started.json()["activity_id"]
                await next_cue(socket, "trivia_question", round=1)
                stopped = await on_b.post(f"/coordination/activities/{activity_id}/stop")
                assert stopped.status_code == 200, stopped.text
                # The game ends (its lease let go); everything it sent has arrived by the time the
                # socket has been quiet a while: no result, no second question, no end.
                await poll(lambda: holder(redis_url, prefix, activity_id), lambda h: h == "", within=STEP_S)
                with contextlib.suppress(TimeoutError):
                    while True:
                        await socket.receive(timeout=1.0)
                cued = [m["payload"].get("event_type") for m in socket.seen if m["type"] == "sync_event"]
                assert cued == ["group_activity_start", "trivia_question"]


async def test_a_config_the_game_cannot_play_is_refused_before_anything_starts(server: LiveServer) -> None:
    async with operator(server) as http:
        device_id, _ = await register(http)
        for config, field in (
            ({"difficulty": "insane"}, "difficulty"),
            ({"rounds": 2, "questions": ["geo-e1", "no-such-question"]}, "questions"),
            ({"topics": ["astrology"]}, "topics"),
        ):
            body = {
                "activity_type": "trivia",
                "device_ids": [device_id],
                "persona_id": "entertainer",
                "config": config,
            }
            response = await http.post("/coordination/group-activity", json=body)
            assert response.status_code == 422, response.text
            assert response.json()["error_code"] == "VALIDATION_ERROR"
            assert field in response.json()["message"]
        body = {
            "activity_type": "story",
            "device_ids": [device_id],
            "persona_id": "storyteller",
            "config": {"story": "x"},
        }
        response = await http.post("/coordination/group-activity", json=body)
        assert response.status_code == 422, response.text


async def test_keys_a_game_does_not_know_are_ignored_and_known_ones_taken_as_sent(
    server: LiveServer,
) -> None:
    """As a body's unknown fields (README, "Trivia and stories"): the game plays what it knows, while a
    known key of the wrong type or out of range is still refused."""
    async with operator(server) as http:
        device_id, token = await register(http)
        async with await connect(server, device_id, token) as socket:
            config = {**QUIZ, "rounds": 1, "round": 10, "theme": {"season": "autumn"}}
            body = {
                "activity_type": "trivia",
                "device_ids": [device_id],
                "persona_id": "entertainer",
                "config": config,
            }
            started = await http.post("/coordination/group-activity", json=body)
            assert started.status_code == 201, started.text
            assert started.json()["config"] == config
            cue = await next_cue(socket, "trivia_question", round=1)
            assert cue["rounds"] == 1
            stopped = await http.post(f"/coordination/activities/{started.json()['activity_id']}/stop")
            assert stopped.status_code == 200, stopped.text
            story = {
                "activity_type": "story",
                "device_ids": [device_id],
                "persona_id": "storyteller",
                "config": {"story": "train", "vote_window_s": 2, "ending": "happy"},
            }
            started = await http.post("/coordination/group-activity", json=story)
            assert started.status_code == 201, started.text
            stopped = await http.post(f"/coordination/activities/{started.json()['activity_id']}/stop")
            assert stopped.status_code == 200, stopped.text
        for wrong in ({"rounds": "5"}, {"rounds": 0}, {"rounds": 31}, {"answer_window_s": 1}):
            response = await http.post(
                "/coordination/group-activity", json={**body, "config": {**wrong, "theme": "autumn"}}
            )
            assert response.status_code == 422, response.text
            assert response.json()["error_code"] == "VALIDATION_ERROR"
            assert next(iter(wrong)) in response.json()["message"]


async def test_each_step_of_a_game_is_on_the_operator_event_stream(server: LiveServer) -> None:
    group_id = f"grp-{secrets.token_hex(4)}"
    async with operator(server) as http:
        device_id, device_token = await register(http, group_id=group_id)
        params = {"group_id": group_id, "kinds": "activity"}
        async with (
            open_stream(server.api_url, server.token(), params=params) as stream,
            await connect(server, device_id, device_token) as socket,
        ):
            body = {
                "activity_type": "trivia",
                "device_ids": [device_id],
                "persona_id": "entertainer",
                "config": QUIZ,
            }
            started = await http.post("/coordination/group-activity", json=body)
            activity_id = started.json()["activity_id"]
            await next_cue(socket, "trivia_question", round=1)
            step = await stream.wait_for(lambda e: e.data.get("state") == "trivia_question", timeout=STEP_S)
            assert step.data["activity_id"] == activity_id
            assert step.data["detail"] == {"round": 1, "rounds": 2}


async def test_without_voice_models_a_game_is_answered_by_typing_or_pressing(server: LiveServer) -> None:
    group_id = f"grp-{secrets.token_hex(4)}"
    async with operator(server) as http:
        typed = await register(http, group_id=group_id, location="Kitchen")
        pressed = await register(http, group_id=group_id, location="Lounge")
        wrong = await register(http, group_id=group_id, location="Garden")
        async with (
            await connect(server, *typed) as by_text,
            await connect(server, *pressed) as by_button,
            await connect(server, *wrong) as by_mistake,
        ):
            body = {
                "activity_type": "trivia",
                "device_ids": [typed[0], pressed[0], wrong[0]],
                "persona_id": "entertainer",
                "config": {"rounds": 1, "answer_window_s": 30, "questions": ["geo-e1"]},
            }
            started = await http.post("/coordination/group-activity", json=body)
            activity_id = started.json()["activity_id"]
            question = await next_cue(by_text, "trivia_question", round=1)
            paris = next(o["button"] for o in question["options"] if o["text"] == "Paris")
            for socket in (by_button, by_mistake):
                await next_cue(socket, "trivia_question", round=1)

            # Answers are taken from the moment the question is put (its `starts_at`).
            await asyncio.sleep(
                max(0.0, (datetime.fromisoformat(question["starts_at"]) - datetime.now(UTC)).total_seconds())
            )
            await by_text.send("text_input", {"text": "I think it's Paris"})
            await by_button.send("button_press", {"button": paris, "action": "press"})
            await by_mistake.send("text_input", {"text": "Lisbon"})
            for socket in (by_text, by_button, by_mistake):
                reply = await socket.expect("audio_response")
                assert reply["payload"]["text"] == "Got it."  # the game took it, not the persona's LLM
                assert reply["payload"]["persona_id"] == "entertainer"

            result = await next_cue(by_text, "trivia_result", round=1)
            assert result["right_device_ids"] == [typed[0], pressed[0]]
            got = await poll(
                lambda: http.get(f"/coordination/activities/{activity_id}"),
                lambda r: r.json()["status"] == "stopped",
                within=STEP_S,
            )
            assert got.json()["scores"] == {typed[0]: 1, pressed[0]: 1, wrong[0]: 0}
        # Once the game is over, the device's turns are its persona's again.
        async with await connect(server, *typed) as after:
            await after.send("text_input", {"text": "Thank you"})
            assert (await after.expect("audio_response"))["payload"]["text"] != "Got it."
