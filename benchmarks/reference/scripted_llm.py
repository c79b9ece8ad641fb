"""The one part of the reference bot that is not stock pipecat: its "LLM" is this server's offline script.

The bot must say the same reply to the same words as this server does, so the
TTS has the same work on both sides. `ScriptedLLMService` is a pipecat
`LLMService` that answers each `LLMContextFrame` the way pipecat's own LLM
services do (`LLMFullResponseStartFrame`, `LLMTextFrame` pieces,
`LLMFullResponseEndFrame`), but takes its text from this server's
`ScriptedResponder` for the default persona instead of from a model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pipecat.frames.frames import Frame, LLMContextFrame, LLMFullResponseEndFrame, LLMFullResponseStartFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.llm_service import LLMService
from pipecat.services.settings import LLMSettings

from personas.factory import build_responder
from personas.loader import load_library
from pipeline.llm import ChatMessage, Responder
from pipeline.llm.scripted import ScriptedResponder

DEFAULT_PERSONA = "companion"
"""The persona this server answers with when none is chosen (`Settings.default_persona_id`)."""


def default_responder(persona_id: str = DEFAULT_PERSONA) -> ScriptedResponder:
    """The offline responder this server builds for `persona_id` when it has no LLM key."""
    persona = load_library().get(persona_id)
    if persona is None:
        raise ValueError(f"no persona {persona_id!r} in the persona library")
    responder = build_responder(persona, anthropic_client=None)
    assert isinstance(responder, ScriptedResponder), "without a client every persona answers from its script"
    return responder


class ScriptedLLMService(LLMService):
    """Answers every `LLMContextFrame` with `responder`'s reply to the context, streamed as LLM frames."""

    def __init__(self, *, responder: Responder, **kwargs: Any) -> None:
        # None for every setting a model would take: the script has no model, prompt or sampling.
        unused = {f.name: None for f in dataclasses.fields(LLMSettings) if f.name not in ("extra",)}
        unused["use_provider_thinking_default"] = False
        super().__init__(settings=LLMSettings(**unused), **kwargs)
        self._responder = responder

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, LLMContextFrame):
            await self.push_frame(frame, direction)
            return
        await self.push_frame(LLMFullResponseStartFrame())
        await self.start_processing_metrics()
        try:
            async for piece in self._responder.stream(chat_messages(frame.context)):
                await self._push_llm_text(piece)
        finally:
            await self.stop_processing_metrics()
            await self.push_frame(LLMFullResponseEndFrame())


def chat_messages(context: LLMContext) -> list[ChatMessage]:
    """The user and assistant turns of a pipecat context, as this server's responders take them."""
    messages = []
    for message in context.get_messages():
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("user", "assistant"):
            messages.append(ChatMessage(role=role, content=_text(message.get("content"))))
    return messages


def _text(content: object) -> str:
    """A message's text: a plain string, or the text parts of a list of content parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict)).strip()
    return ""
