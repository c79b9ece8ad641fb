"""From a persona file to its prompt and LLM engine."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from personas import Persona, build_responder, build_script, load_library, system_prompt_for
from pipeline.llm.anthropic import AnthropicResponder
from pipeline.llm.base import ChatMessage, Responder
from pipeline.llm.scripted import ScriptedResponder

LIBRARY = load_library()


def persona(persona_id: str) -> Persona:
    found = LIBRARY.get(persona_id)
    assert found is not None
    return found


async def reply(engine: Responder, text: str) -> str:
    return "".join([piece async for piece in engine.stream([ChatMessage(role="user", content=text)])])


def client() -> anthropic.AsyncAnthropic:
    # Construction makes no network call; the address is unreachable on purpose.
    return anthropic.AsyncAnthropic(api_key="test", base_url="http://127.0.0.1:9")


def test_scripted_without_a_client() -> None:
    engine = build_responder(persona("companion"), anthropic_client=None)
    assert isinstance(engine, ScriptedResponder)
    assert engine.engine_name == "scripted-offline"


def test_anthropic_with_a_client() -> None:
    engine = build_responder(persona("companion"), anthropic_client=client())
    assert isinstance(engine, AnthropicResponder)
    assert engine.engine_name == "anthropic"


@pytest.mark.parametrize(
    ("override", "model"), [(None, "claude-haiku-5-5"), ("claude-sonnet-4-5", "claude-sonnet-4-5")]
)
def test_anthropic_gets_the_persona_settings(
    monkeypatch: pytest.MonkeyPatch, override: str | None, model: str
) -> None:
    received: dict[str, Any] = {}
    monkeypatch.setattr("personas.factory.AnthropicResponder", lambda **kwargs: received.update(kwargs))
    nurse = persona("medication_nurse")
    build_responder(nurse, anthropic_client=client(), model_override=override)
    llm = nurse.behavior_config.llm
    assert received["model"] == model
    assert received["system_prompt"] == system_prompt_for(nurse)
    assert received["max_tokens"] == llm.max_tokens


def test_system_prompt_ends_with_the_style() -> None:
    nurse = persona("medication_nurse")
    prompt = system_prompt_for(nurse)
    style = nurse.behavior_config.style
    assert prompt.startswith(nurse.behavior_config.system_prompt.strip())
    assert style.tone in prompt
    assert f"more than {style.max_sentences} sentences" in prompt


def test_every_shipped_script_builds() -> None:
    for each in LIBRARY:
        script = build_script(each)
        assert script.greeting == each.behavior_config.greeting
        assert len(script.rules) == len(each.behavior_config.offline_script.rules)


@pytest.mark.parametrize(
    ("persona_id", "said", "expected"),
    [
        ("medication_nurse", "I forgot to take my pills this morning", "pharmacist"),
        ("medication_nurse", "Could this be a side effect?", "tell a member of staff"),
        ("entertainer", "Let's have a quiz!", "Question one"),
        ("entertainer", "Is it Mars?", "Mars is right"),
        ("storyteller", "Tell me a story about the sea", "lighthouse"),
        ("companion", "I've had a fall", "call button"),
    ],
)
async def test_scripted_answers_a_keyword_in_character(persona_id: str, said: str, expected: str) -> None:
    engine = build_responder(persona(persona_id), anthropic_client=None)
    assert expected in await reply(engine, said)


async def test_scripted_greets_in_character() -> None:
    engine = build_responder(persona("companion"), anthropic_client=None)
    assert await reply(engine, "Hello there") == persona("companion").behavior_config.greeting
