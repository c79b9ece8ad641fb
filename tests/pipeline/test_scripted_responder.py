"""The scripted offline responder: deterministic, persona-aware, streamed word by word."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from pipeline.llm.base import ChatMessage, Responder, TokenUsage
from pipeline.llm.briefing import make_briefing
from pipeline.llm.scripted import Script, ScriptedResponder, ScriptRule

SCRIPT = Script(
    greeting="Hello! I'm {name}. How has your day been?",
    rules=(
        ScriptRule(keywords=("weather", "rain"), reply="I can't see outside, but I hope it's sunny."),
        ScriptRule(keywords=("good night",), reply="Good night! Sleep well."),
        ScriptRule(keywords=("your name",), reply="My name is {name}."),
    ),
    fallbacks=("Tell me more.", "Really? Go on.", "How did that make you feel?"),
)


def responder(piece_delay_s: float = 0.0) -> ScriptedResponder:
    return ScriptedResponder(persona_name="Mira", script=SCRIPT, piece_delay_s=piece_delay_s)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


async def collect(engine: Responder, messages: list[ChatMessage]) -> tuple[list[str], TokenUsage]:
    reply = engine.stream(messages)
    pieces = [piece async for piece in reply]
    return pieces, reply.usage


def test_is_a_responder_named_for_what_it_is() -> None:
    engine: Responder = responder()
    assert engine.engine_name == "scripted-offline"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What's the WEATHER like?", "I can't see outside, but I hope it's sunny."),
        ("Is it going to rain tomorrow", "I can't see outside, but I hope it's sunny."),
        ("Well, good night then!", "Good night! Sleep well."),
        ("what is your name", "My name is Mira."),
    ],
)
def test_first_matching_rule_wins(text: str, expected: str) -> None:
    assert responder().reply_to([user(text)]) == expected


def test_keywords_match_whole_words_and_phrases_only() -> None:
    engine = responder()
    # "rainbow" is not "rain"; "good" and "night" apart are not "good night".
    for text in ("I saw a rainbow", "a good day and a long night"):
        assert engine.reply_to([user(text)]) in {
            "Tell me more.",
            "Really? Go on.",
            "How did that make you feel?",
        }


def test_rules_are_checked_in_order() -> None:
    assert responder().reply_to([user("good night, and the weather?")]).startswith("I can't see outside")


def test_greets_on_the_first_turn_only() -> None:
    engine = responder()
    assert engine.reply_to([user("Hi there!")]) == "Hello! I'm Mira. How has your day been?"
    assert engine.reply_to([user("Good morning")]) == "Hello! I'm Mira. How has your day been?"
    later = [user("hello"), assistant("Hello! I'm Mira."), user("hello again")]
    assert engine.reply_to(later) in SCRIPT.fallbacks


def test_a_word_starting_with_a_greeting_is_not_a_greeting() -> None:
    assert responder().reply_to([user("history is fun")]) in SCRIPT.fallbacks


def test_fallback_is_deterministic_and_depends_on_the_message() -> None:
    engine = responder()
    texts = [f"I went to the market number {n}" for n in range(30)]
    first = [engine.reply_to([user(text)]) for text in texts]
    again = [ScriptedResponder(persona_name="Mira", script=SCRIPT).reply_to([user(t)]) for t in texts]
    assert first == again
    assert set(first) == set(SCRIPT.fallbacks)  # the hash spreads messages over every fallback


def test_fallback_ignores_case_and_punctuation() -> None:
    engine = responder()
    assert engine.reply_to([user("I like trains!")]) == engine.reply_to([user("i LIKE trains")])


async def test_streams_several_pieces_that_concatenate_to_the_reply() -> None:
    engine = responder()
    messages = [user("what is the weather like")]
    pieces, _ = await collect(engine, messages)
    assert len(pieces) > 1
    assert "".join(pieces) == engine.reply_to(messages)
    assert all(piece.strip() for piece in pieces)


async def test_same_input_streams_the_same_pieces() -> None:
    messages = [user("hello"), assistant("Hi!"), user("tell me a story")]
    assert await collect(responder(), messages) == await collect(responder(), messages)


async def test_usage_counts_words_in_and_pieces_out() -> None:
    messages = [user("hello there"), assistant("Hi, I'm Mira."), user("what is your name")]
    pieces, usage = await collect(responder(), messages)
    assert usage == TokenUsage(input_tokens=2 + 3 + 4, output_tokens=len(pieces))
    assert pieces == ["My ", "name ", "is ", "Mira."]


async def test_other_tasks_run_between_pieces() -> None:
    events: list[str] = []

    async def other_task() -> None:
        for _ in range(4):
            events.append("other")
            await asyncio.sleep(0)

    task = asyncio.create_task(other_task())
    async for piece in responder().stream([user("good night")]):
        events.append(piece)
    await task
    assert [e for e in events if e != "other"] == ["Good ", "night! ", "Sleep ", "well."]
    assert events.index("other") < events.index("night! ") < events.index("other", events.index("night! "))


def test_script_decodes_from_data_and_rejects_bad_scripts() -> None:
    data = b'{"greeting": "Hi", "rules": [{"keywords": ["cat"], "reply": "Meow."}], "fallbacks": ["Hm."]}'
    script = msgspec.json.decode(data, type=Script)
    assert script.rules == (ScriptRule(keywords=("cat",), reply="Meow."),)
    with pytest.raises(msgspec.ValidationError, match="at least one fallback"):
        msgspec.json.decode(b'{"greeting": "Hi", "rules": [], "fallbacks": []}', type=Script)
    with pytest.raises(msgspec.ValidationError, match="keyword"):
        msgspec.json.decode(b'{"keywords": ["?!"], "reply": "x"}', type=ScriptRule)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"keywords": ["a"], "reply": "x", "mood": 1}', type=ScriptRule)


def test_a_named_resident_is_greeted_by_name() -> None:
    briefing = make_briefing(name="Margaret", preferences=["tea"])
    named = msgspec.structs.replace(SCRIPT, named_greeting="Hello {resident}! I'm {name}.")
    assert ScriptedResponder(persona_name="Mira", script=named).reply_to([user("Hi!")], briefing) == (
        "Hello Margaret! I'm Mira."
    )
    # A script without a named greeting puts the name before its greeting.
    assert (
        responder().reply_to([user("Hi!")], briefing)
        == "Hello, Margaret. Hello! I'm Mira. How has your day been?"
    )
    # Without a name (no briefing, or one without it): the plain greeting.
    assert responder().reply_to([user("Hi!")]) == "Hello! I'm Mira. How has your day been?"
    unnamed = make_briefing(metadata={"room": "12"})
    assert responder().reply_to([user("Hi!")], unnamed) == "Hello! I'm Mira. How has your day been?"


def test_a_named_greeting_must_say_the_name() -> None:
    with pytest.raises(ValueError, match="resident"):
        Script(greeting="Hi.", rules=(), fallbacks=("Go on.",), named_greeting="Hello there!")
