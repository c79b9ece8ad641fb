"""Build a persona's prompt and LLM engine from its file.

A persona answers through the engine its file names (`behavior_config.llm.engine`),
or, when it says "server", the server's choice. `LLMClients` carries what the server
was configured with: an Anthropic client, an OpenAI-compatible server's client, or
neither (the offline script, which is honest about being scripted).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import anthropic
import httpx2

from personas.schema import EngineChoice, Persona, StyleConfig
from pipeline.llm.anthropic import AnthropicResponder
from pipeline.llm.base import Responder
from pipeline.llm.openai_compat import ChatCompletionsResponder
from pipeline.llm.scripted import Script, ScriptedResponder, ScriptRule

Engine = Literal["anthropic", "openai-compatible", "scripted-offline"]


@dataclass(frozen=True)
class LLMClients:
    """The engines the server can answer with, and which one personas use unless their file says."""

    default: Engine = "scripted-offline"
    anthropic: anthropic.AsyncAnthropic | None = None
    anthropic_model: str | None = None
    """Overrides every persona's Anthropic model."""
    chat_completions: httpx2.AsyncClient | None = None
    chat_completions_model: str | None = None
    """The model on the OpenAI-compatible server, for personas whose file names none."""
    max_retries: int = 0
    """Retries of a reply not yet begun, for both remote engines (`pipeline.llm.remote.with_retries`)."""
    configured: frozenset[Engine] = frozenset()
    """Engines configured without a client at hand (to check persona files before clients exist)."""

    @property
    def available(self) -> frozenset[Engine]:
        engines: set[Engine] = {"scripted-offline", *self.configured}
        if self.anthropic is not None:
            engines.add("anthropic")
        if self.chat_completions is not None:
            engines.add("openai-compatible")
        return frozenset(engines)


class EngineNotConfigured(ValueError):
    """A persona asks for an engine the server was not configured for."""


_VERBOSITY = {
    "brief": "Keep each reply as short as a helpful answer allows.",
    "normal": "Answer in a few sentences, like natural conversation.",
    "detailed": "Give fuller answers when asked, still in plain spoken sentences.",
}
_FORMALITY = {
    "casual": "Speak casually and warmly, as a friend would.",
    "neutral": "Speak plainly and politely.",
    "formal": "Speak courteously and formally; use the person's title and surname unless told otherwise.",
}


def system_prompt_for(persona: Persona) -> str:
    """The persona's system prompt followed by a short paragraph describing its style."""
    behavior = persona.behavior_config
    return f"{behavior.system_prompt.strip()}\n\n{_style_paragraph(behavior.style)}"


def build_script(persona: Persona) -> Script:
    """The persona's offline script, in the form the scripted responder takes."""
    offline = persona.behavior_config.offline_script
    return Script(
        greeting=persona.behavior_config.greeting,
        rules=tuple(ScriptRule(keywords=rule.keywords, reply=rule.reply) for rule in offline.rules),
        fallbacks=offline.fallbacks,
        named_greeting=persona.behavior_config.named_greeting,
    )


def build_responder(
    persona: Persona,
    *,
    anthropic_client: anthropic.AsyncAnthropic | None = None,
    model_override: str | None = None,
    clients: LLMClients | None = None,
) -> Responder:
    """The persona's LLM engine (see `engine_for`).

    `clients` says what the server has; without it, `anthropic_client` (and
    `model_override`, replacing every persona's model) make Anthropic the default
    when given, else the offline script is.
    """
    if clients is None:
        default: Engine = "anthropic" if anthropic_client is not None else "scripted-offline"
        clients = LLMClients(default=default, anthropic=anthropic_client, anthropic_model=model_override)
    check_engine(persona, clients)
    llm = persona.behavior_config.llm
    match engine_for(persona, clients):
        case "anthropic" if clients.anthropic is not None:
            return AnthropicResponder(
                client=clients.anthropic,
                model=clients.anthropic_model or llm.model,
                system_prompt=system_prompt_for(persona),
                max_tokens=llm.max_tokens,
                max_retries=clients.max_retries,
            )
        case "openai-compatible" if clients.chat_completions is not None:
            return ChatCompletionsResponder(
                client=clients.chat_completions,
                model=llm.local_model or clients.chat_completions_model or "",
                system_prompt=system_prompt_for(persona),
                max_tokens=llm.max_tokens,
                max_retries=clients.max_retries,
            )
        case _:
            return ScriptedResponder(persona_name=persona.name, script=build_script(persona))


def check_engine(persona: Persona, clients: LLMClients) -> None:
    """Raise `EngineNotConfigured` if the persona's engine is not among `clients` (or has no model)."""
    engine = engine_for(persona, clients)
    if engine not in clients.available:
        raise EngineNotConfigured(
            f"persona {persona.id!r} answers through {engine!r}, which the server is not configured for"
        )
    if engine == "openai-compatible" and not (
        persona.behavior_config.llm.local_model or clients.chat_completions_model
    ):
        raise EngineNotConfigured(
            f"persona {persona.id!r}: no model for the OpenAI-compatible server "
            "(set behavior_config.llm.local_model or COMPANION_OPENAI_MODEL)"
        )


def engine_for(persona: Persona, clients: LLMClients) -> Engine:
    """The engine the persona's file names, or the server's default when it says "server"."""
    chosen: EngineChoice = persona.behavior_config.llm.engine
    if chosen == "server":
        return clients.default
    return chosen


def _style_paragraph(style: StyleConfig) -> str:
    sentences = "one sentence" if style.max_sentences == 1 else f"{style.max_sentences} sentences"
    return (
        f"Style: your tone is {style.tone}. {_VERBOSITY[style.verbosity]} "
        f"Never say more than {sentences} in one reply. {_FORMALITY[style.formality]}"
    )
