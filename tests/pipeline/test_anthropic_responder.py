"""The Anthropic responder, through the real SDK, against a fake Messages API on a local socket."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anthropic
import pytest

from pipeline.llm.anthropic import AnthropicResponder, make_anthropic_client
from pipeline.llm.base import ChatMessage, LLMError, Responder, TokenUsage
from pipeline.llm.briefing import make_briefing
from tests.fakes.anthropic_server import FakeAnthropic, fake_anthropic
from tests.pipeline.llm_checks import clean_failure

API_KEY = "sk-ant-test-0123456789-secret"
SYSTEM_PROMPT = "You are Mira, a warm and curious companion."
CONVERSATION = [
    ChatMessage(role="user", content="Hi Mira!"),
    ChatMessage(role="assistant", content="Hello! How are you?"),
    ChatMessage(role="user", content="Tired, but happy."),
]


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with fake_anthropic() as server:
        yield server


def responder(fake: FakeAnthropic, *, timeout_s: float = 5.0, max_retries: int = 0) -> AnthropicResponder:
    client = make_anthropic_client(api_key=API_KEY, base_url=fake.base_url, timeout_s=timeout_s)
    return AnthropicResponder(
        client=client,
        model="claude-sonnet-5",
        system_prompt=SYSTEM_PROMPT,
        max_tokens=300,
        max_retries=max_retries,
    )


async def failure(engine: Responder, pieces: list[str] | None = None) -> LLMError:
    reply = engine.stream(CONVERSATION)
    return await clean_failure(reply, engine="anthropic", secret=API_KEY, pieces=pieces)


async def test_streams_the_reply_in_pieces(fake: FakeAnthropic) -> None:
    engine = responder(fake)
    reply = engine.stream(CONVERSATION)
    pieces = [piece async for piece in reply]
    assert engine.engine_name == "anthropic"
    assert len(pieces) > 1
    assert "".join(pieces) == fake.reply_text
    assert reply.usage == TokenUsage(input_tokens=fake.input_tokens, output_tokens=len(fake.deltas))


async def test_request_carries_persona_and_conversation(fake: FakeAnthropic) -> None:
    async for _ in responder(fake).stream(CONVERSATION):
        pass
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.api_key == API_KEY
    assert request.body == {
        "model": "claude-sonnet-5",
        "system": SYSTEM_PROMPT,
        "max_tokens": 300,
        "messages": [{"role": m.role, "content": m.content} for m in CONVERSATION],
        "stream": True,
    }


async def test_overloaded_is_retryable(fake: FakeAnthropic) -> None:
    fake.fail_with_status = (529, "overloaded_error")
    error = await failure(responder(fake))
    assert (error.reason, error.retryable, error.upstream_status) == ("overloaded_error", True, 529)


async def test_rate_limit_is_retryable(fake: FakeAnthropic) -> None:
    fake.fail_with_status = (429, "rate_limit_error")
    error = await failure(responder(fake))
    assert (error.reason, error.retryable, error.upstream_status) == ("rate_limit_error", True, 429)


async def test_bad_key_is_not_retryable(fake: FakeAnthropic) -> None:
    fake.fail_with_status = (401, "authentication_error")
    error = await failure(responder(fake))
    assert (error.reason, error.retryable, error.upstream_status) == ("authentication_error", False, 401)


async def test_timeout(fake: FakeAnthropic) -> None:
    fake.delay_s = 2.0
    error = await failure(responder(fake, timeout_s=0.3))
    assert (error.reason, error.retryable, error.upstream_status) == ("timeout", True, None)


async def test_stall_in_the_middle_of_the_stream_is_a_timeout(fake: FakeAnthropic) -> None:
    fake.midstream_stall_s = 2.0
    error = await failure(responder(fake, timeout_s=0.3))
    assert (error.reason, error.retryable) == ("timeout", True)


async def test_unreachable_server_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        closed_port = sock.getsockname()[1]
    base_url = f"http://127.0.0.1:{closed_port}"
    client = make_anthropic_client(api_key=API_KEY, base_url=base_url, timeout_s=1.0, max_retries=0)
    engine = AnthropicResponder(client=client, model="m", system_prompt=SYSTEM_PROMPT, max_tokens=10)
    error = await failure(engine)
    assert (error.reason, error.retryable, error.upstream_status) == ("connection", True, None)


async def test_error_event_in_the_middle_of_the_stream(fake: FakeAnthropic) -> None:
    fake.midstream_error = True
    pieces: list[str] = []
    error = await failure(responder(fake), pieces)
    assert pieces == fake.deltas[:1]
    assert (error.reason, error.retryable, error.upstream_status) == ("overloaded_error", True, None)


async def test_empty_reply_is_an_error(fake: FakeAnthropic) -> None:
    fake.reply_text = ""
    error = await failure(responder(fake))
    assert (error.reason, error.retryable) == ("empty_reply", False)


def test_fake_serves_sync_clients_and_plain_messages(fake: FakeAnthropic) -> None:
    client = anthropic.Anthropic(api_key=API_KEY, base_url=fake.base_url, max_retries=0)
    message = client.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    assert [block.text for block in message.content if block.type == "text"] == [fake.reply_text]
    assert fake.requests[0].api_key == API_KEY


async def test_the_briefing_follows_the_system_prompt(fake: FakeAnthropic) -> None:
    briefing = make_briefing(name="Margaret", schedule_notes=["blood pressure tablet at nine"])
    assert briefing is not None
    async for _ in responder(fake).stream(CONVERSATION, briefing):
        pass
    assert fake.requests[0].body["system"] == f"{SYSTEM_PROMPT}\n\n{briefing.text}"
    assert "blood pressure tablet at nine" in briefing.text


async def test_an_overload_is_retried_and_then_answered(fake: FakeAnthropic) -> None:
    fake.fail_with_status, fake.fail_times, fake.retry_after = (529, "overloaded_error"), 1, "0"
    pieces = [piece async for piece in responder(fake, max_retries=1).stream(CONVERSATION)]
    assert "".join(pieces) == fake.reply_text
    assert len(fake.requests) == 2


async def test_a_retry_after_longer_than_the_longest_backoff_is_not_waited(fake: FakeAnthropic) -> None:
    # The SDK would sleep whatever Retry-After says; a resident would hear nothing for a minute.
    fake.fail_with_status, fake.retry_after = (429, "rate_limit_error"), "60"
    error = await failure(responder(fake, max_retries=3))
    assert (error.reason, error.retryable, error.retry_after_s) == ("rate_limit_error", True, 60)
    assert len(fake.requests) == 1


async def test_the_sdk_itself_does_not_retry(fake: FakeAnthropic) -> None:
    fake.fail_with_status, fake.retry_after = (500, "api_error"), "0"
    await failure(responder(fake, max_retries=0))
    assert len(fake.requests) == 1
