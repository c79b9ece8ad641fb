"""§8.5 end to end: `POST /dialog/send` with the offline engine and with the Anthropic engine (a fake API)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic
from tests.server.conftest import register
from tests.server.helpers import assert_error, away_from_minute_boundary, poll, scripted_reply
from tests.support.live_server import LiveServer, live_server, make_settings

ServerFactory = Callable[..., AbstractContextManager[LiveServer]]
RESPONSE_FIELDS = {
    "session_id",
    "response_text",
    "response_audio_url",
    "persona_id",
    "latency_ms",
    "tokens_used",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module, to keep it fast; every test registers its own devices."""
    with live_server(make_settings(tmp_path_factory.mktemp("state"))) as live:
        yield live


async def _send(http: httpx.AsyncClient, device_id: str, message: str, **fields: Any) -> dict[str, Any]:
    response = await http.post("/dialog/send", json={"device_id": device_id, "message": message, **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _session(http: httpx.AsyncClient, session_id: str) -> dict[str, Any]:
    response = await http.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    session: dict[str, Any] = response.json()
    return session


async def _new_session(http: httpx.AsyncClient, device_id: str, persona_id: str) -> str:
    response = await http.post("/sessions", json={"device_id": device_id, "persona_id": persona_id})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


# The offline engine


async def test_send_returns_the_spec_fields(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    reply = await _send(client, device_id, "How are you?")
    assert set(reply) == RESPONSE_FIELDS
    assert reply["session_id"].startswith("sess_")
    assert reply["response_text"] == await scripted_reply(client, "companion", "how are you")
    assert reply["response_audio_url"] is None
    assert reply["persona_id"] == "companion"
    assert isinstance(reply["latency_ms"], int)
    assert reply["latency_ms"] >= 0
    assert isinstance(reply["tokens_used"], int)
    # The offline engine counts words: at least the question's three and every word of the reply.
    assert reply["tokens_used"] >= 3 + len(reply["response_text"].split())


async def test_session_is_created_reused_and_keeps_context(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    first = await _send(client, device_id, "Hello")
    session = await _session(client, first["session_id"])
    assert session["device_id"] == device_id
    assert session["persona_id"] == "companion"
    assert session["status"] == "active"
    assert session["turns"] == 2

    second = await _send(client, device_id, "Thanks")
    assert second["session_id"] == first["session_id"]
    assert (await _session(client, first["session_id"]))["turns"] == 4
    third = await _send(client, device_id, "Tell me more", session_id=first["session_id"])
    assert third["session_id"] == first["session_id"]
    assert (await _session(client, first["session_id"]))["turns"] == 6

    state = (await client.get(f"/devices/{device_id}/state")).json()
    assert state["active_session_id"] == first["session_id"]
    assert state["metrics"]["interactions_today"] == 3


async def test_greeting_only_on_the_first_turn(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    persona = (await client.get("/personas/companion")).json()
    first = await _send(client, device_id, "Hello")
    assert first["response_text"] == persona["behavior_config"]["greeting"]
    again = await _send(client, device_id, "Hello")
    assert again["response_text"] != persona["behavior_config"]["greeting"]


async def test_each_persona_answers_in_its_own_words(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    replies: dict[str, str] = {}
    for persona_id in ("companion", "exercise_coach", "storyteller"):
        session_id = await _new_session(client, device_id, persona_id)
        reply = await _send(client, device_id, "thanks", session_id=session_id)
        assert reply["persona_id"] == persona_id
        assert reply["session_id"] == session_id
        assert reply["response_text"] == await scripted_reply(client, persona_id, "thanks")
        replies[persona_id] = reply["response_text"]
    assert len(set(replies.values())) == 3


async def test_replies_are_deterministic(client: httpx.AsyncClient) -> None:
    conversation = ["Good morning", "The crossword was hard today", "What time is it?"]
    transcripts = []
    for _ in range(2):
        device_id, _ = await register(client)  # a fresh device: a fresh session
        replies = [await _send(client, device_id, line) for line in conversation]
        assert len({r["session_id"] for r in replies}) == 1
        transcripts.append([r["response_text"] for r in replies])
    assert transcripts[0] == transcripts[1]
    assert len(set(transcripts[0])) == 3


async def test_a_device_token_sends_only_for_its_own_device(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, token = await register(client)
    other_id, _ = await register(client)
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}
    ) as own:
        reply = await _send(own, device_id, "How are you?")
        assert reply["persona_id"] == "companion"
        refused = await own.post("/dialog/send", json={"device_id": other_id, "message": "How are you?"})
    body = assert_error(refused, 403, "FORBIDDEN")
    assert body["details"] == {"token_device_id": device_id, "requested_device_id": other_id}
    assert (await client.get(f"/devices/{other_id}/state")).json()["active_session_id"] is None


async def test_unknown_device_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post("/dialog/send", json={"device_id": "dev_nobody", "message": "Hello"})
    body = assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert body["details"] == {"device_id": "dev_nobody"}


async def test_unknown_session_is_404(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    response = await client.post(
        "/dialog/send", json={"device_id": device[0], "session_id": "sess_nothing", "message": "Hello"}
    )
    body = assert_error(response, 404, "SESSION_NOT_FOUND")
    assert body["details"] == {"session_id": "sess_nothing"}


async def test_another_devices_session_is_404(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    other_id, _ = await register(client)
    other_session = (await _send(client, other_id, "Hello"))["session_id"]
    response = await client.post(
        "/dialog/send", json={"device_id": device_id, "session_id": other_session, "message": "Hello"}
    )
    # As a session that does not exist (issue 12): a device learns nothing of another's session ids.
    body = assert_error(response, 404, "SESSION_NOT_FOUND")
    assert body["details"] == {"session_id": other_session}
    assert (await _session(client, other_session))["turns"] == 2


async def test_ended_session_is_410(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    session_id = (await _send(client, device_id, "Hello"))["session_id"]
    ended = await client.delete(f"/sessions/{session_id}")
    assert ended.status_code == 200, ended.text
    response = await client.post(
        "/dialog/send", json={"device_id": device_id, "session_id": session_id, "message": "Hello"}
    )
    body = assert_error(response, 410, "SESSION_EXPIRED")
    assert body["details"] == {"session_id": session_id, "reason": "ended"}
    # Without a session id the device simply starts a new one.
    assert (await _send(client, device_id, "Hello"))["session_id"] != session_id


async def test_timed_out_session_is_410(server_factory: ServerFactory) -> None:
    with server_factory(session_ttl_s=1) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, _ = await register(http)
            session_id = (await _send(http, device_id, "Hello"))["session_id"]
            expired = await poll(lambda: _session(http, session_id), lambda s: s["status"] == "expired")
            assert expired["turns"] == 2
            response = await http.post(
                "/dialog/send", json={"device_id": device_id, "session_id": session_id, "message": "Hello"}
            )
            body = assert_error(response, 410, "SESSION_EXPIRED")
            assert body["details"] == {"session_id": session_id, "reason": "expired"}
            fresh = await _send(http, device_id, "Hello")
            assert fresh["session_id"] != session_id


@pytest.mark.parametrize("message", ["", "   \n\t"])
async def test_empty_message_is_422(client: httpx.AsyncClient, device: tuple[str, str], message: str) -> None:
    response = await client.post("/dialog/send", json={"device_id": device[0], "message": message})
    body = assert_error(response, 422, "VALIDATION_ERROR")
    assert body["details"]["errors"][0]["field"] == "message"


async def test_missing_message_is_422(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    assert_error(await client.post("/dialog/send", json={"device_id": device[0]}), 422, "VALIDATION_ERROR")


async def test_audio_is_not_supported_yet(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    # Audio turns arrive in a later version. NOT_SUPPORTED is a client error (422, see
    # server/errors.py), so that no well-formed request is ever answered with a 5xx.
    response = await client.post(
        "/dialog/send", json={"device_id": device[0], "audio_base64": "UklGRiQAAABXQVZF"}
    )
    body = assert_error(response, 422, "NOT_SUPPORTED")
    assert "audio" in body["message"].lower()
    assert (await client.get(f"/devices/{device[0]}/state")).json()["metrics"]["interactions_today"] == 0


async def test_dialog_turns_are_rate_limited(server_factory: ServerFactory) -> None:
    with server_factory(dialog_turns_per_minute=2) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, _ = await register(http)
            other_id, _ = await register(http)
            await away_from_minute_boundary()
            for _ in range(2):
                await _send(http, device_id, "Hello")
            response = await http.post("/dialog/send", json={"device_id": device_id, "message": "Hello"})
            body = assert_error(response, 429, "RATE_LIMITED")
            retry_after = int(response.headers["Retry-After"])
            assert 1 <= retry_after <= 60
            assert body["details"]["retry_after_s"] == retry_after
            assert body["details"]["limit_per_minute"] == 2
            # The limit is per device.
            await _send(http, other_id, "Hello")


# The Anthropic engine, against a fake Messages API on a real socket

API_KEY = "sk-ant-test-DO-NOT-LEAK-0123456789"
LLM_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def anthropic_api() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_server(
    anthropic_api: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("anthropic"),
        anthropic_api_key=API_KEY,
        anthropic_base_url=anthropic_api.base_url,
        llm_max_retries=0,
        llm_timeout_s=LLM_TIMEOUT_S,
    )
    with live_server(settings) as live:
        yield live


@pytest.fixture
def fake(anthropic_api: FakeAnthropic) -> Iterator[FakeAnthropic]:
    """The module's fake API, with its knobs reset and its request log cleared for each test."""
    defaults = FakeAnthropic(base_url=anthropic_api.base_url)
    anthropic_api.requests.clear()
    yield anthropic_api
    for name in ("reply_text", "input_tokens", "fail_with_status", "delay_s", "midstream_error"):
        setattr(anthropic_api, name, getattr(defaults, name))


@pytest.fixture
async def llm_client(anthropic_server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=anthropic_server.api_url, headers=anthropic_server.operator_headers, timeout=10
    ) as http:
        yield http


async def test_anthropic_reply_usage_and_request(llm_client: httpx.AsyncClient, fake: FakeAnthropic) -> None:
    device_id, _ = await register(llm_client)
    health = (await llm_client.get("/health")).json()
    assert health["llm_engine"] == "anthropic"

    fake.reply_text = "Good morning! I slept well, thank you. How about you?"
    fake.input_tokens = 37
    first = await _send(llm_client, device_id, "Good morning, Sam!")
    assert first["response_text"] == fake.reply_text
    assert first["tokens_used"] == 37 + len(fake.deltas)
    assert first["persona_id"] == "companion"

    second = await _send(llm_client, device_id, "Not bad at all.")
    assert second["session_id"] == first["session_id"]
    assert len(fake.requests) == 2
    request = fake.requests[-1]
    assert request.path == "/v1/messages"
    assert request.api_key == API_KEY
    persona = (await llm_client.get("/personas/companion")).json()
    assert request.body["system"].startswith(persona["behavior_config"]["system_prompt"].strip())
    assert request.body["stream"] is True
    assert request.body["messages"] == [
        {"role": "user", "content": "Good morning, Sam!"},
        {"role": "assistant", "content": fake.reply_text},
        {"role": "user", "content": "Not bad at all."},
    ]
    assert (await _session(llm_client, first["session_id"]))["turns"] == 4


async def test_anthropic_prompt_follows_the_persona(
    llm_client: httpx.AsyncClient, fake: FakeAnthropic
) -> None:
    device_id, _ = await register(llm_client)
    session_id = await _new_session(llm_client, device_id, "storyteller")
    reply = await _send(llm_client, device_id, "A story, please", session_id=session_id)
    assert reply["persona_id"] == "storyteller"
    persona = (await llm_client.get("/personas/storyteller")).json()
    assert fake.requests[-1].body["system"].startswith(persona["behavior_config"]["system_prompt"].strip())


@pytest.mark.parametrize(
    ("status", "error_type", "retryable"),
    [(529, "overloaded_error", True), (429, "rate_limit_error", True), (401, "authentication_error", False)],
)
async def test_upstream_error_is_502_and_context_is_unchanged(
    llm_client: httpx.AsyncClient, fake: FakeAnthropic, status: int, error_type: str, retryable: bool
) -> None:
    device_id, _ = await register(llm_client)
    session_id = (await _send(llm_client, device_id, "Hello"))["session_id"]
    fake.fail_with_status = (status, error_type)

    response = await llm_client.post("/dialog/send", json={"device_id": device_id, "message": "Still there?"})
    body = assert_error(response, 502, "LLM_API_ERROR")
    assert body["details"]["reason"] == error_type
    assert body["details"]["retryable"] is retryable
    assert body["details"]["upstream_status"] == status
    assert API_KEY not in response.text
    session = await _session(llm_client, session_id)
    assert session["turns"] == 2
    assert session["status"] == "active"

    fake.fail_with_status = None
    again = await _send(llm_client, device_id, "Still there?")
    assert again["session_id"] == session_id
    assert (await _session(llm_client, session_id))["turns"] == 4


async def test_upstream_error_mid_reply_is_502(llm_client: httpx.AsyncClient, fake: FakeAnthropic) -> None:
    device_id, _ = await register(llm_client)
    session_id = (await _send(llm_client, device_id, "Hello"))["session_id"]
    fake.midstream_error = True
    response = await llm_client.post("/dialog/send", json={"device_id": device_id, "message": "And then?"})
    body = assert_error(response, 502, "LLM_API_ERROR")
    assert body["details"]["reason"] == "overloaded_error"
    assert body["details"]["retryable"] is True
    assert API_KEY not in response.text
    assert (await _session(llm_client, session_id))["turns"] == 2


async def test_upstream_timeout_is_502(llm_client: httpx.AsyncClient, fake: FakeAnthropic) -> None:
    device_id, _ = await register(llm_client)
    fake.delay_s = LLM_TIMEOUT_S * 4
    response = await llm_client.post("/dialog/send", json={"device_id": device_id, "message": "Hello"})
    body = assert_error(response, 502, "LLM_API_ERROR")
    assert body["details"]["reason"] == "timeout"
    assert body["details"]["retryable"] is True
    assert API_KEY not in response.text
    state = (await llm_client.get(f"/devices/{device_id}/state")).json()
    assert state["metrics"]["interactions_today"] == 0
