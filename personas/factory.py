"""Build a persona's prompt and LLM engine from its file.

With an Anthropic client the persona answers through the Messages API; without
one it answers from its offline script, which is honest about being scripted.
"""

from __future__ import annotations

import anthropic

from personas.schema import Persona, StyleConfig
from pipeline.llm.anthropic import AnthropicResponder
from pipeline.llm.base import Responder
from pipeline.llm.scripted import Script, ScriptedResponder, ScriptRule

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
    )


def build_responder(
    persona: Persona,
    *,
    anthropic_client: anthropic.AsyncAnthropic | None,
    model_override: str | None = None,
) -> Responder:
    """The persona's LLM engine: Anthropic when a client is given, else its offline script.

    `model_override` replaces the persona's own model (an operator's choice for
    every persona); it has no effect on the scripted responder.
    """
    if anthropic_client is None:
        return ScriptedResponder(persona_name=persona.name, script=build_script(persona))
    llm = persona.behavior_config.llm
    return AnthropicResponder(
        client=anthropic_client,
        model=model_override or llm.model,
        system_prompt=system_prompt_for(persona),
        max_tokens=llm.max_tokens,
    )


def _style_paragraph(style: StyleConfig) -> str:
    sentences = "one sentence" if style.max_sentences == 1 else f"{style.max_sentences} sentences"
    return (
        f"Style: your tone is {style.tone}. {_VERBOSITY[style.verbosity]} "
        f"Never say more than {sentences} in one reply. {_FORMALITY[style.formality]}"
    )
