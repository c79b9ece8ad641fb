"""What the persona knows, on a live device: the system prompt each typed turn reaches the LLM with
(the fake Messages API records it) holds the profile and metadata of the session the device holds,
and nothing of another resident's, across a new session, a handoff and the end of a session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic
from tests.support.live_server import LiveServer
from tests.voice.conftest import operator_http, voice_server_with
from tests.voice.test_voice_live_session import answered_by, connect, hand_off, open_session, typed_turn

SMITH = {"name": "Edith Smith", "preferences": ["brass band music"], "schedule_notes": ["eye drops at noon"]}
JONES = {"name": "Arthur Jones", "preferences": ["cricket on the radio"], "schedule_notes": ["walk at four"]}
SMITH_MARKS = ("Edith Smith", "brass band", "eye drops", "room: 3")
JONES_MARKS = ("Arthur Jones", "cricket", "walk at four", "room: 9")


@pytest.fixture(scope="module")
def anthropic_api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def server(anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with voice_server_with(
        tmp_path_factory.mktemp("briefing"), **answered_by(anthropic_api), dialog_turns_per_minute=0
    ) as live:
        yield live


@pytest.fixture
async def http(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with operator_http(server) as client:
        for user_id, profile in (("mrs-smith", SMITH), ("mr-jones", JONES)):
            response = await client.put(f"/residents/{user_id}/profile", json=profile)
            assert response.status_code == 200, response.text
        yield client


def system(llm: FakeAnthropic, index: int) -> str:
    prompt: str = llm.requests[index].body["system"]
    return prompt


def knows(prompt: str, marks: tuple[str, ...]) -> bool:
    found = [mark in prompt for mark in marks]
    assert all(found) or not any(found), (marks, prompt)  # all of a resident's profile, or nothing of it
    return all(found)


async def test_the_live_prompt_knows_only_the_held_sessions_resident(
    server: LiveServer, http: httpx.AsyncClient, anthropic_api: FakeAnthropic
) -> None:
    llm = anthropic_api
    llm.requests.clear()
    bedroom = await connect(server, http, location="bedroom")
    kitchen = await connect(server, http, location="kitchen")
    try:
        smith = await open_session(http, bedroom, "companion", user_id="mrs-smith", metadata={"room": "3"})
        await typed_turn(bedroom, "Good morning.")
        jones = await open_session(http, kitchen, "companion", user_id="mr-jones", metadata={"room": "9"})
        await typed_turn(kitchen, "Hello there.")
        await hand_off(http, smith, bedroom.device_id, kitchen.device_id, notify_user=False)
        await typed_turn(kitchen, "I moved to the kitchen.")
        assert (await http.delete(f"/sessions/{jones}")).status_code == 200
        await typed_turn(bedroom, "Is anyone there?")
    finally:
        await bedroom.close()
        await kitchen.close()
    prompts = [system(llm, index) for index in range(4)]
    assert [(knows(p, SMITH_MARKS), knows(p, JONES_MARKS)) for p in prompts] == [
        (True, False),  # the bedroom holds Mrs Smith's session
        (False, True),  # the kitchen holds Mr Jones's
        (True, False),  # handed off: the kitchen now holds Mrs Smith's
        (False, False),  # the bedroom let her session go: a new one, nobody's
    ]
