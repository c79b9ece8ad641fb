"""The OpenAI-compatible engine against a fake Chat Completions server on a local socket.

The fake speaks the real streaming protocol (SSE chunks, `[DONE]`, `{"error": ...}` bodies with the
HTTP status) and fails on demand: statuses with `Retry-After`, a malformed chunk, an error chunk, a
stall, a slow start, a connection dropped mid-stream. Also: its failure becomes the spoken apology
of a live turn, through the real reply stage.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from pipecat.tests.utils import run_test

from pipeline.graph.conversation import Conversation
from pipeline.graph.frames import ReplyEndFrame, ReplyTextFrame, UserTextFrame
from pipeline.graph.persona import PersonaBinding, PersonaSlot
from pipeline.graph.reply import APOLOGY, ReplyGenerator
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm.base import ChatMessage, LLMError, TokenUsage
from pipeline.llm.briefing import make_briefing
from pipeline.llm.openai_compat import ChatCompletionsResponder, make_chat_completions_client
from pipeline.llm.remote import MAX_BACKOFF_S
from tests.fakes.openai_server import FakeOpenAI, fake_openai
from tests.pipeline.fakes import FakeVoice
from tests.pipeline.llm_checks import clean_failure, drain

API_KEY = "local-key-0123456789-secret"
SYSTEM_PROMPT = "You are Sam, a warm and patient companion."
CONVERSATION = [
    ChatMessage(role="user", content="Good morning Sam."),
    ChatMessage(role="assistant", content="Good morning! Did you sleep well?"),
    ChatMessage(role="user", content="Not bad at all."),
]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai() as server:
        server.retry_after = "0"  # retries without the backoff's half second, unless a test says
        yield server


def responder(
    fake_or_url: FakeOpenAI | str, *, timeout_s: float = 5.0, max_retries: int = 0, api_key: str = API_KEY
) -> ChatCompletionsResponder:
    base_url = fake_or_url if isinstance(fake_or_url, str) else fake_or_url.base_url
    client = make_chat_completions_client(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    return ChatCompletionsResponder(
        client=client,
        model="llama3.2:3b",
        system_prompt=SYSTEM_PROMPT,
        max_tokens=200,
        max_retries=max_retries,
    )


async def failure(engine: ChatCompletionsResponder, pieces: list[str] | None = None) -> LLMError:
    return await clean_failure(
        engine.stream(CONVERSATION), engine="openai-compatible", secret=API_KEY, pieces=pieces
    )


async def test_streams_the_reply_in_pieces_with_the_servers_usage(fake: FakeOpenAI) -> None:
    engine = responder(fake)
    reply = engine.stream(CONVERSATION)
    pieces = [piece async for piece in reply]
    assert engine.engine_name == "openai-compatible"
    assert pieces == fake.pieces
    assert len(pieces) > 1
    assert "".join(pieces) == fake.reply_text
    assert reply.usage == TokenUsage(input_tokens=fake.prompt_tokens, output_tokens=len(fake.pieces))


async def test_request_carries_persona_conversation_and_key(fake: FakeOpenAI) -> None:
    await drain(responder(fake).stream(CONVERSATION), [])
    (request,) = fake.requests
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.body == {
        "model": "llama3.2:3b",
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            *({"role": m.role, "content": m.content} for m in CONVERSATION),
        ],
        "max_tokens": 200,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


async def test_no_key_sends_no_authorization(fake: FakeOpenAI) -> None:
    await drain(responder(fake, api_key="").stream(CONVERSATION), [])
    assert "authorization" not in fake.requests[0].headers


async def test_the_briefing_follows_the_system_prompt(fake: FakeOpenAI) -> None:
    briefing = make_briefing(name="Margaret", preferences=["tea with milk"])
    assert briefing is not None
    await drain(responder(fake).stream(CONVERSATION, briefing), [])
    assert fake.system_prompts() == [f"{SYSTEM_PROMPT}\n\n{briefing.text}"]
    assert "- Name: Margaret" in briefing.text


async def test_a_server_error_is_retried_and_then_answered(fake: FakeOpenAI) -> None:
    fake.fail_with_status, fake.fail_times = (500, "server_error"), 1
    pieces: list[str] = []
    await drain(responder(fake, max_retries=1).stream(CONVERSATION), pieces)
    assert "".join(pieces) == fake.reply_text
    assert len(fake.requests) == 2


async def test_a_rate_limit_is_retried_then_reported(fake: FakeOpenAI) -> None:
    fake.fail_with_status = (429, "rate_limit_error")
    error = await failure(responder(fake, max_retries=2))
    assert (error.reason, error.retryable, error.upstream_status) == ("rate_limit_error", True, 429)
    assert error.retry_after_s == 0
    assert len(fake.requests) == 3


async def test_a_retry_after_longer_than_the_longest_backoff_is_not_waited(fake: FakeOpenAI) -> None:
    fake.fail_with_status, fake.retry_after = (503, "server_error"), str(int(MAX_BACKOFF_S) + 30)
    error = await failure(responder(fake, max_retries=3))
    assert (error.reason, error.retryable, error.upstream_status) == ("server_error", True, 503)
    assert len(fake.requests) == 1


async def test_only_the_start_of_an_error_body_is_read(fake: FakeOpenAI) -> None:
    fake.fail_with_status, fake.error_padding = (500, "server_error"), 8 * 1024 * 1024
    error = await failure(responder(fake))
    # The error type comes after 8 MiB of padding: not read, so the reason is the status alone.
    assert (error.reason, error.retryable, error.upstream_status) == ("http_500", True, 500)


async def test_a_bad_key_is_not_retried(fake: FakeOpenAI) -> None:
    fake.fail_with_status = (401, "authentication_error")
    error = await failure(responder(fake, max_retries=2))
    assert (error.reason, error.retryable, error.upstream_status) == ("authentication_error", False, 401)
    assert len(fake.requests) == 1


async def test_a_malformed_chunk_is_an_invalid_response(fake: FakeOpenAI) -> None:
    fake.malformed_chunk = True
    pieces: list[str] = []
    error = await failure(responder(fake, max_retries=2), pieces)
    assert pieces == fake.pieces[:1]
    assert (error.reason, error.retryable) == ("invalid_response", False)
    assert len(fake.requests) == 1


async def test_an_error_chunk_mid_stream_ends_the_reply_without_a_retry(fake: FakeOpenAI) -> None:
    fake.midstream_error = True
    pieces: list[str] = []
    error = await failure(responder(fake, max_retries=2), pieces)
    assert pieces == fake.pieces[:1]  # said already: a retry would say it twice
    assert (error.reason, error.retryable, error.upstream_status) == ("server_error", True, None)
    assert len(fake.requests) == 1


async def test_a_connection_dropped_mid_stream_is_an_incomplete_stream(fake: FakeOpenAI) -> None:
    fake.drop_after_pieces = 2
    pieces: list[str] = []
    error = await failure(responder(fake, max_retries=2), pieces)
    assert pieces == fake.pieces[:2]
    assert (error.reason, error.retryable) == ("incomplete_stream", True)
    assert len(fake.requests) == 1


async def test_a_connection_dropped_before_any_piece_is_retried(fake: FakeOpenAI) -> None:
    fake.drop_after_pieces = 0
    error = await failure(responder(fake, max_retries=1))
    assert (error.reason, error.retryable) == ("incomplete_stream", True)
    assert len(fake.requests) == 2


async def test_a_slow_start_times_out_and_is_retried(fake: FakeOpenAI) -> None:
    fake.delay_s = 2.0
    error = await failure(responder(fake, timeout_s=0.3, max_retries=1))
    assert (error.reason, error.retryable, error.upstream_status) == ("timeout", True, None)
    assert len(fake.requests) == 2


async def test_a_stall_mid_stream_is_a_timeout(fake: FakeOpenAI) -> None:
    fake.midstream_stall_s = 2.0
    pieces: list[str] = []
    error = await failure(responder(fake, timeout_s=0.3, max_retries=1), pieces)
    assert pieces == fake.pieces[:1]
    assert (error.reason, error.retryable) == ("timeout", True)
    assert len(fake.requests) == 1


async def test_an_empty_reply_is_an_error(fake: FakeOpenAI) -> None:
    fake.reply_text = ""
    error = await failure(responder(fake, max_retries=2))
    assert (error.reason, error.retryable) == ("empty_reply", False)
    assert len(fake.requests) == 1


async def test_an_unreachable_server_is_a_connection_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        closed_port = sock.getsockname()[1]
    error = await failure(responder(f"http://127.0.0.1:{closed_port}/v1", timeout_s=1.0))
    assert (error.reason, error.retryable, error.upstream_status) == ("connection", True, None)


async def test_the_client_reads_no_environment(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        dead_proxy = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)  # would swallow every request if honoured
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    pieces: list[str] = []
    await drain(responder(fake).stream(CONVERSATION), pieces)
    assert "".join(pieces) == fake.reply_text


async def test_a_failure_before_any_word_is_the_spoken_apology_of_a_live_turn(fake: FakeOpenAI) -> None:
    fake.fail_with_status = (500, "server_error")
    binding = PersonaBinding(
        persona_id="companion", responder=responder(fake, max_retries=1), voice=FakeVoice()
    )
    generator = ReplyGenerator(persona=PersonaSlot(binding), conversation=Conversation())
    down, _ = await run_test(
        generator,
        frames_to_send=[UserTextFrame(text="Hello?", timeline=TurnTimeline(turn_id=1))],
        expected_down_frames=[ReplyTextFrame, ReplyEndFrame],
    )
    assert [f.text for f in down if isinstance(f, ReplyTextFrame | ReplyEndFrame)] == [APOLOGY, APOLOGY]
    assert len(fake.requests) == 2  # the retry came first
