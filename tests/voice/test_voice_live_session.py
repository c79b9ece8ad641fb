"""One live session, one truth: every change to a device's session reaches its running voice loop.

A voice server with the real models answers through the persona's Anthropic engine,
pointed at the local fake of the Messages API, which records every request: each
test asserts on the exact conversation the LLM received, so a conversation leaking
from one session (one resident) into another fails it, whatever the reply says.
Turns are typed (`text_input`), which the device speaks like spoken ones, through
the same graph.
"""

from __future__ import annotations

import secrets
import wave
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from audio_fixtures import load_fixtures
from server.live.session import ARRIVAL_LINE, departure_line
from server.state.redis import RedisStore
from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic
from tests.server.conftest import register
from tests.server.helpers import poll
from tests.support.live_server import LiveServer
from tests.voice.conftest import (
    REPLY_WAIT_S,
    Microphone,
    Received,
    VoiceDevice,
    converse,
    of_type,
    operator_http,
    voice_server_with,
)

Conversation = list[tuple[str, str]]


@pytest.fixture(scope="module")
def anthropic_api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as fake:
        yield fake


def answered_by(fake: FakeAnthropic) -> dict[str, Any]:
    """Settings of a server whose personas answer through the Anthropic engine, at the fake."""
    return {"anthropic_api_key": "test-key", "anthropic_base_url": fake.base_url, "llm_max_retries": 0}


@pytest.fixture(scope="module")
def llm_voice_server(
    anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    media_dir = tmp_path_factory.mktemp("media")
    _silent_wav(media_dir / TUNE)
    with voice_server_with(
        tmp_path_factory.mktemp("live"),
        **answered_by(anthropic_api),
        dialog_turns_per_minute=0,
        media_dir=media_dir,
    ) as live:
        yield live


TUNE = "tune.wav"
"""The one item of the server's media library (for a `sync_playback` activity)."""


def _silent_wav(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(bytes(2 * 16000))


@pytest.fixture
def llm(anthropic_api: FakeAnthropic) -> FakeAnthropic:
    anthropic_api.requests.clear()
    anthropic_api.reply_text = FakeAnthropic(base_url="").reply_text
    return anthropic_api


@pytest.fixture
async def http(llm_voice_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with operator_http(llm_voice_server) as client:
        yield client


@pytest.fixture
async def rooms(
    llm_voice_server: LiveServer, http: httpx.AsyncClient
) -> AsyncIterator[tuple[VoiceDevice, VoiceDevice]]:
    """Two connected devices: the bedroom and the kitchen."""
    bedroom = await connect(llm_voice_server, http, location="bedroom")
    kitchen = await connect(llm_voice_server, http, location="kitchen")
    yield bedroom, kitchen
    await bedroom.close()
    await kitchen.close()


async def connect(server: LiveServer, http: httpx.AsyncClient, **fields: Any) -> VoiceDevice:
    device_id, token = await register(http, **fields)
    return await VoiceDevice.connect(server, device_id, token)


def sent_conversation(llm: FakeAnthropic, index: int = -1) -> Conversation:
    """The conversation the LLM received in request `index`: (role, text) pairs."""
    messages = llm.requests[index].body["messages"]
    return [(m["role"], _text(m["content"])) for m in messages]


def _text(content: str | list[dict[str, Any]]) -> str:
    if isinstance(content, str):
        return content
    return "".join(block["text"] for block in content if block.get("type") == "text")


async def typed_turn(device: VoiceDevice, text: str, **payload: Any) -> Received:
    """Type `text` to the device; the final `audio_response` of its spoken reply, once the device listens
    again."""
    since = device.mark()
    await device.send("text_input", {"text": text, **payload})
    final = await device.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_WAIT_S)
    await device.wait_for(of_type("led_control", state="listening"), since=final.index + 1)
    return final


async def spoken_line(device: VoiceDevice, text: str, *, since: int) -> Received:
    """The device said `text` (a line answering nobody), with its audio."""
    final = await device.wait_for(
        of_type("audio_response", final=True, text=text), since=since, timeout=REPLY_WAIT_S
    )
    assert device.received(of_type("audio_response", final=False, text=text), since=since)
    return final


async def open_session(http: httpx.AsyncClient, device: VoiceDevice, persona_id: str, **fields: Any) -> str:
    response = await http.post(
        "/sessions", json={"device_id": device.device_id, "persona_id": persona_id, **fields}
    )
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def hand_off(
    http: httpx.AsyncClient, session_id: str, source: str, target: str, *, notify_user: bool = True
) -> None:
    response = await http.post(
        f"/sessions/{session_id}/handoff",
        json={"from_device_id": source, "to_device_id": target, "notify_user": notify_user},
    )
    assert response.status_code == 200, response.text


async def stored_conversation(http: httpx.AsyncClient, session_id: str) -> Conversation:
    response = await http.get(f"/sessions/{session_id}/context")
    assert response.status_code == 200, response.text
    return [(m["role"], m["content"]) for m in response.json()["messages"]]


async def test_two_residents_one_after_another_share_nothing(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    device = await connect(llm_voice_server, http)
    try:
        first = await open_session(http, device, "storyteller", user_id="Mrs Smith")
        reply = await typed_turn(device, "My grandson Tom visits on Sundays.")
        assert reply.payload["persona_id"] == "storyteller"  # POST /sessions reached the live loop
        assert (await http.delete(f"/sessions/{first}")).status_code == 200
        second = await open_session(http, device, "companion", user_id="Mr Jones")
        reply = await typed_turn(device, "What shall we do today?")
        assert reply.payload["persona_id"] == "companion"
    finally:
        await device.close()
    assert sent_conversation(llm, 0) == [("user", "My grandson Tom visits on Sundays.")]
    assert sent_conversation(llm, 1) == [("user", "What shall we do today?")]
    assert await stored_conversation(http, second) == [
        ("user", "What shall we do today?"),
        ("assistant", llm.reply_text),
    ]
    assert [m[0] for m in await stored_conversation(http, first)] == ["user", "assistant"]


async def test_an_ended_session_is_forgotten_by_the_device(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    device = await connect(llm_voice_server, http)
    try:
        await typed_turn(device, "I take my pills with breakfast.")
        state = (await http.get(f"/devices/{device.device_id}/state")).json()
        ended = state["active_session_id"]
        assert (await http.delete(f"/sessions/{ended}")).status_code == 200
        await typed_turn(device, "Good morning.")
        now = (await http.get(f"/devices/{device.device_id}/state")).json()["active_session_id"]
    finally:
        await device.close()
    assert sent_conversation(llm, 1) == [("user", "Good morning.")]
    assert now != ended
    assert await stored_conversation(http, ended) == [
        ("user", "I take my pills with breakfast."),
        ("assistant", llm.reply_text),
    ]


async def test_handoff_moves_the_conversation_and_the_source_forgets_it(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    bedroom, kitchen = rooms
    session_id = await open_session(http, bedroom, "storyteller")
    await typed_turn(bedroom, "Tell me a story about the sea.")
    bedroom_mark, kitchen_mark = bedroom.mark(), kitchen.mark()
    await hand_off(http, session_id, bedroom.device_id, kitchen.device_id)
    # Each side hears one line, in the session's persona's voice.
    goodbye = await spoken_line(bedroom, departure_line("kitchen"), since=bedroom_mark)
    hello = await spoken_line(kitchen, ARRIVAL_LINE, since=kitchen_mark)
    assert goodbye.payload["persona_id"] == hello.payload["persona_id"] == "storyteller"
    assert bedroom.received(of_type("stop_playback"), since=bedroom_mark)
    await kitchen.wait_for(of_type("led_control", state="listening"), since=hello.index + 1)
    await bedroom.wait_for(of_type("led_control", state="listening"), since=goodbye.index + 1)

    on_kitchen = await typed_turn(kitchen, "And what happened next?")
    assert on_kitchen.payload["persona_id"] == "storyteller"
    on_bedroom = await typed_turn(bedroom, "Is anyone there?")
    assert sent_conversation(llm, 1) == [
        ("user", "Tell me a story about the sea."),
        ("assistant", llm.reply_text),
        ("user", "And what happened next?"),
    ]
    assert sent_conversation(llm, 2) == [("user", "Is anyone there?")]
    assert on_bedroom.payload["persona_id"] == "storyteller"  # the device keeps its persona, not the talk
    assert [m for m in await stored_conversation(http, session_id) if m[0] == "user"] == [
        ("user", "Tell me a story about the sea."),
        ("user", "And what happened next?"),
    ]
    assert (await http.get(f"/devices/{kitchen.device_id}/state")).json()["active_session_id"] == session_id


async def test_a_handoff_without_notice_says_nothing(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    bedroom, kitchen = rooms
    session_id = await open_session(http, bedroom, "memory_keeper")
    await typed_turn(bedroom, "We married in nineteen sixty.")
    bedroom_mark, kitchen_mark = bedroom.mark(), kitchen.mark()
    await hand_off(http, session_id, bedroom.device_id, kitchen.device_id, notify_user=False)
    # A line would be queued ahead of the next reply on the same graph: the next turns show none.
    await typed_turn(kitchen, "Where was the wedding?")
    await typed_turn(bedroom, "Hello?")
    for device, mark in ((bedroom, bedroom_mark), (kitchen, kitchen_mark)):
        finals = device.received(of_type("audio_response", final=True), since=mark)
        assert [m.payload["text"] for m in finals] == [llm.reply_text]
    assert sent_conversation(llm, 1)[-1] == ("user", "Where was the wedding?")
    assert len(sent_conversation(llm, 1)) == 3
    assert sent_conversation(llm, 2) == [("user", "Hello?")]


async def test_the_handoff_source_stops_talking_at_once(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    llm.reply_text = " ".join(["Once upon a time a fisherman sailed out to sea, and the waves rose."] * 6)
    bedroom, kitchen = rooms
    session_id = await open_session(http, bedroom, "storyteller")
    since = bedroom.mark()
    await bedroom.send("text_input", {"text": "Tell me a long story."})
    first_chunk = await bedroom.wait_for(
        of_type("audio_response", final=False), since=since, timeout=REPLY_WAIT_S
    )
    await hand_off(http, session_id, bedroom.device_id, kitchen.device_id, notify_user=False)
    stop = await bedroom.wait_for(of_type("stop_playback"), since=first_chunk.index)
    await bedroom.heartbeat_acked()  # everything the server queued before now has arrived
    turn_id = first_chunk.payload["turn_id"]
    after_stop = bedroom.received(of_type("audio_response", turn_id=turn_id), since=stop.index + 1)
    assert after_stop == []
    # The turn went with the session, keeping only what the bedroom had played of the story (maybe
    # nothing yet: the first chunk is sent ahead of time).
    stored = await stored_conversation(http, session_id)
    assert stored[0] == ("user", "Tell me a long story.")
    assert len(stored) <= 2
    for _, played in stored[1:]:
        assert llm.reply_text.startswith(played)
        assert len(played) < len(llm.reply_text)


async def test_a_group_activity_gives_its_persona_to_the_next_turn(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    # A synchronised playback: no game takes the device's turns (in a trivia or story game they are
    # answers that no LLM sees: tests/server/test_activity_games.py), so its persona answers them.
    device = await connect(llm_voice_server, http)
    try:
        await typed_turn(device, "I feel a bit lonely.")
        response = await http.post(
            "/coordination/group-activity",
            json={
                "activity_type": "sync_playback",
                "device_ids": [device.device_id],
                "persona_id": "entertainer",
                "config": {"media": TUNE},
            },
        )
        assert response.status_code in (200, 201), response.text
        reply = await typed_turn(device, "Ready when you are.")
    finally:
        await device.close()
    assert reply.payload["persona_id"] == "entertainer"
    assert sent_conversation(llm, 1) == [("user", "Ready when you are.")]


async def test_a_switch_reaches_the_live_loop_before_rest_answers(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    device = await connect(llm_voice_server, http)
    try:
        await typed_turn(device, "Hello.")
        since = device.mark()
        response = await http.post(
            f"/devices/{device.device_id}/persona/switch",
            json={"target_persona_id": "medication_nurse", "preserve_context": False},
        )
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True
        notice = await device.wait_for(of_type("persona_switch"), since=since)
        reply = await typed_turn(device, "Is it time for my tablets?")
    finally:
        await device.close()
    assert notice.payload["persona_id"] == "medication_nurse"
    assert reply.payload["persona_id"] == "medication_nurse"
    assert sent_conversation(llm, 1) == [("user", "Is it time for my tablets?")]


async def test_an_expired_session_is_forgotten_by_the_live_loop(
    anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> None:
    anthropic_api.requests.clear()
    with voice_server_with(
        tmp_path_factory.mktemp("expiry"), **answered_by(anthropic_api), session_ttl_s=2
    ) as server:
        async with operator_http(server) as http:
            device = await connect(server, http)
            try:
                await typed_turn(device, "My daughter is called Anne.")
                state_url = f"/devices/{device.device_id}/state"
                expired = (await http.get(state_url)).json()["active_session_id"]

                async def active() -> str | None:
                    session: str | None = (await http.get(state_url)).json()["active_session_id"]
                    return session

                # The live loop lets go of the session when it expires (and says so in the state).
                await poll(active, lambda session: session is None, within=30)
                await typed_turn(device, "Who am I?")
            finally:
                await device.close()
            status = (await http.get(f"/sessions/{expired}")).json()["status"]
    assert status == "expired"
    assert [m for m in sent_conversation(anthropic_api, -1)] == [("user", "Who am I?")]


async def test_handoff_and_switch_across_two_instances_on_one_redis(
    anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    """The bedroom's socket on instance A, the kitchen's on B; the operator talks to A."""
    anthropic_api.requests.clear()
    anthropic_api.reply_text = FakeAnthropic(base_url="").reply_text
    shared = {
        **answered_by(anthropic_api),
        "redis_url": redis_url,
        "redis_key_prefix": f"t{secrets.token_hex(4)}:",
    }
    with (
        voice_server_with(tmp_path_factory.mktemp("a"), **shared) as a,
        voice_server_with(tmp_path_factory.mktemp("b"), **shared) as b,
    ):
        async with operator_http(a) as http:
            bedroom = await connect(a, http, location="bedroom")
            kitchen_id, kitchen_token = await register(http, location="kitchen")
            kitchen = await VoiceDevice.connect(b, kitchen_id, kitchen_token)
            try:
                session_id = await open_session(http, bedroom, "storyteller")
                await typed_turn(bedroom, "Tell me a story about the sea.")
                kitchen_mark = kitchen.mark()
                await hand_off(http, session_id, bedroom.device_id, kitchen_id)
                hello = await spoken_line(kitchen, ARRIVAL_LINE, since=kitchen_mark)
                await kitchen.wait_for(of_type("led_control", state="listening"), since=hello.index + 1)
                on_kitchen = await typed_turn(kitchen, "And what happened next?")
                switched = await http.post(
                    f"/devices/{kitchen_id}/persona/switch",
                    json={"target_persona_id": "companion", "preserve_context": True},
                )
                assert switched.status_code == 200, switched.text
                after_switch = await typed_turn(kitchen, "Thank you.")
                on_bedroom = await typed_turn(bedroom, "Is anyone there?")
            finally:
                await bedroom.close()
                await kitchen.close()
    assert hello.payload["persona_id"] == on_kitchen.payload["persona_id"] == "storyteller"
    assert after_switch.payload["persona_id"] == "companion"
    assert sent_conversation(anthropic_api, 1) == [
        ("user", "Tell me a story about the sea."),
        ("assistant", anthropic_api.reply_text),
        ("user", "And what happened next?"),
    ]
    assert sent_conversation(anthropic_api, 2)[-1] == ("user", "Thank you.")
    assert len(sent_conversation(anthropic_api, 2)) == 5  # the switch kept the context
    assert sent_conversation(anthropic_api, 3) == [("user", "Is anyone there?")]
    assert on_bedroom.payload["persona_id"] == "storyteller"


async def test_a_rest_turn_reaches_the_live_conversation(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    device = await connect(llm_voice_server, http)
    try:
        await typed_turn(device, "Good morning.")
        sent = await http.post(
            "/dialog/send", json={"device_id": device.device_id, "message": "Remind me about lunch."}
        )
        assert sent.status_code == 200, sent.text
        await typed_turn(device, "What did I just ask?")
    finally:
        await device.close()
    assert sent_conversation(llm, 2) == [
        ("user", "Good morning."),
        ("assistant", llm.reply_text),
        ("user", "Remind me about lunch."),
        ("assistant", llm.reply_text),
        ("user", "What did I just ask?"),
    ]


async def test_a_handoff_to_an_offline_device_waits_for_it(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    bedroom = await connect(llm_voice_server, http, location="bedroom")
    kitchen_id, kitchen_token = await register(http, location="kitchen")
    try:
        session_id = await open_session(http, bedroom, "storyteller")
        await typed_turn(bedroom, "Tell me a story about the sea.")
        await hand_off(http, session_id, bedroom.device_id, kitchen_id)  # held: the kitchen is not connected
        kitchen = await VoiceDevice.connect(llm_voice_server, kitchen_id, kitchen_token)
        try:
            assert kitchen.messages[0].payload["active_session_id"] == session_id
            on_kitchen = await typed_turn(kitchen, "And what happened next?")
        finally:
            await kitchen.close()
    finally:
        await bedroom.close()
    assert on_kitchen.payload["persona_id"] == "storyteller"
    assert sent_conversation(llm, 1) == [
        ("user", "Tell me a story about the sea."),
        ("assistant", llm.reply_text),
        ("user", "And what happened next?"),
    ]


async def test_a_learning_persona_keeps_the_residents_pauses_with_the_session_across_a_handoff(
    anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    """Rose (memory_keeper) learns: the 700 ms pause inside the bedroom's spoken turn is kept with the
    session (read here from the server's Redis), and after a handoff the kitchen's graph goes on
    from it, so the kitchen's next turn keeps it with the session again."""
    anthropic_api.requests.clear()
    anthropic_api.reply_text = "Go on."
    fixtures = {fixture.name: fixture for fixture in load_fixtures()}
    prefix = f"t{secrets.token_hex(4)}:"
    store = RedisStore.from_url(redis_url, key_prefix=prefix)
    settings = {**answered_by(anthropic_api), "redis_url": redis_url, "redis_key_prefix": prefix}
    try:
        with voice_server_with(tmp_path_factory.mktemp("learning"), **settings) as server:
            async with operator_http(server) as http:
                bedroom = await connect(server, http, location="bedroom")
                kitchen = await connect(server, http, location="kitchen")
                try:
                    session_id = await open_session(http, bedroom, "memory_keeper")
                    async with Microphone(bedroom) as microphone:
                        await converse(bedroom, microphone, fixtures["hello_pause"].pcm)
                    in_bedroom = await store.get_pause_profile(session_id)
                    await hand_off(http, session_id, bedroom.device_id, kitchen.device_id, notify_user=False)
                    async with Microphone(kitchen) as microphone:
                        await converse(kitchen, microphone, fixtures["thank_you"].pcm)
                    in_kitchen = await store.get_pause_profile(session_id)
                finally:
                    await bedroom.close()
                    await kitchen.close()
    finally:
        await store.close()

    assert in_bedroom is not None
    longest = max(in_bedroom.recent, key=lambda pause: pause.seconds)
    assert 0.5 <= longest.seconds <= 1.0, in_bedroom  # "Hello, [700 ms] how can I help you today?"
    assert in_kitchen is not None
    assert longest in in_kitchen.recent, in_kitchen  # "Thank you very much." has no such pause
    assert in_kitchen.turns > in_bedroom.turns


# A broadcast's spoken line: each device says it in its own persona's voice; `priority` decides
# whether it cuts in.

LUNCH = "Lunch is served in the dining room."
STORY = "Once upon a time a fisherman sailed out to sea. The waves rose and the gulls cried over the boat."


async def broadcast_line(
    http: httpx.AsyncClient, devices: list[VoiceDevice], *, priority: int
) -> dict[str, Any]:
    response = await http.post(
        "/coordination/broadcast",
        json={
            "event_type": "announcement",
            "target_devices": [d.device_id for d in devices],
            "payload": {},
            "speak": LUNCH,
            "priority": priority,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_broadcast_line_is_spoken_by_each_device_in_its_own_persona(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    bedroom, kitchen = rooms
    await open_session(http, bedroom, "storyteller")
    marks = bedroom.mark(), kitchen.mark()
    result = await broadcast_line(http, [bedroom, kitchen], priority=5)
    assert sorted(result["spoken"]) == sorted([bedroom.device_id, kitchen.device_id])
    on_bedroom = await spoken_line(bedroom, LUNCH, since=marks[0])
    on_kitchen = await spoken_line(kitchen, LUNCH, since=marks[1])
    assert on_bedroom.payload["persona_id"] == "storyteller"
    assert on_kitchen.payload["persona_id"] == "companion"
    assert llm.requests == []  # a line answers nobody: no turn, no LLM


async def test_an_ordinary_broadcast_line_waits_for_the_device_to_finish(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    llm.reply_text = STORY
    bedroom, _ = rooms
    since = bedroom.mark()
    await bedroom.send("text_input", {"text": "Tell me a story."})
    first = await bedroom.wait_for(of_type("audio_response", final=False), since=since, timeout=REPLY_WAIT_S)
    await broadcast_line(http, [bedroom], priority=5)
    line = await spoken_line(bedroom, LUNCH, since=since)
    story = bedroom.received(
        of_type("audio_response", final=True, turn_id=first.payload["turn_id"]), since=since
    )
    assert story  # told in full, before the line
    assert story[0].payload["text"] == STORY
    assert story[0].index < line.index
    first_of_line = bedroom.received(of_type("audio_response", final=False, text=LUNCH), since=since)[0]
    assert first_of_line.index > story[0].index
    assert bedroom.received(of_type("stop_playback"), since=since) == []


async def test_an_urgent_broadcast_line_cuts_in(
    rooms: tuple[VoiceDevice, VoiceDevice], http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    llm.reply_text = " ".join([STORY] * 4)
    bedroom, _ = rooms
    since = bedroom.mark()
    await bedroom.send("text_input", {"text": "Tell me a long story."})
    first = await bedroom.wait_for(of_type("audio_response", final=False), since=since, timeout=REPLY_WAIT_S)
    await broadcast_line(http, [bedroom], priority=9)
    stop = await bedroom.wait_for(of_type("stop_playback"), since=first.index)
    line = await spoken_line(bedroom, LUNCH, since=stop.index)
    turn_id = first.payload["turn_id"]
    after_stop = bedroom.received(
        of_type("audio_response", final=False, turn_id=turn_id), since=stop.index + 1
    )
    assert after_stop == []
    assert line.payload["persona_id"] == "companion"


async def test_a_stopped_activity_sends_the_live_loop_back_to_its_own_conversation_and_persona(
    llm_voice_server: LiveServer, http: httpx.AsyncClient, llm: FakeAnthropic
) -> None:
    device = await connect(llm_voice_server, http)
    try:
        own = await open_session(http, device, "storyteller")
        await typed_turn(device, "Tell me about the harbour.")
        response = await http.post(
            "/coordination/group-activity",
            json={"activity_type": "trivia", "device_ids": [device.device_id], "persona_id": "entertainer"},
        )
        assert response.status_code == 201, response.text
        activity_id = response.json()["activity_id"]
        stopped = await http.post(f"/coordination/activities/{activity_id}/stop")
        assert stopped.status_code == 200, stopped.text
        # Spoken, not typed: a spoken turn is answered in whatever session the graph holds, so only
        # the stop's live change can have put the device's own session back.
        fixture = next(f for f in load_fixtures() if f.name == "thank_you")
        async with Microphone(device) as microphone:
            turn = await converse(device, microphone, fixture.pcm)
    finally:
        await device.close()
    reply = [m for m in turn.messages if m.type == "audio_response" and m.payload.get("final")][-1]
    # The live loop holds its own session again: its persona, and its conversation as it was.
    assert reply.payload["persona_id"] == "storyteller"
    sent = sent_conversation(llm)
    assert sent[:2] == [("user", "Tell me about the harbour."), ("assistant", llm.reply_text)]
    assert len(sent) == 3
    assert (await http.get(f"/devices/{device.device_id}/state")).json()["active_session_id"] == own
