"""The persona answers: LLM streaming into clauses."""

from __future__ import annotations

import logging

from pipecat.frames.frames import Frame, InterruptionFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.graph.conversation import Conversation
from pipeline.graph.frames import ClauseFrame, ReplyEndFrame, ReplyTextFrame, UserTextFrame
from pipeline.graph.persona import PersonaSlot
from pipeline.llm import ChatMessage, LLMError
from pipeline.text import ClauseSplitter

log = logging.getLogger(__name__)

APOLOGY = "I'm sorry, I couldn't think of an answer just now. Could you say that again?"
"""Spoken, in the persona's voice, when its LLM fails on a live session."""


class ReplyGenerator(FrameProcessor):
    """UserTextFrame → the persona's LLM, streaming → ReplyTextFrame pieces, then ReplyEndFrame."""

    def __init__(self, *, persona: PersonaSlot, conversation: Conversation) -> None:
        super().__init__()
        self._persona = persona
        self._conversation = conversation

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, UserTextFrame):
            await self._reply(frame)
        else:
            await self.push_frame(frame, direction)

    async def _reply(self, frame: UserTextFrame) -> None:
        timeline = frame.timeline
        timeline.user_text = frame.text
        # The conversation records the turn when it is over (at the output), so a speculative turn
        # that is cancelled leaves no trace.
        messages = [*self._conversation.messages(), ChatMessage(role="user", content=frame.text)]
        pieces: list[str] = []
        responder = self._persona.binding.responder
        try:
            async for piece in responder.stream(messages, self._conversation.briefing):
                timeline.mark("first_token")
                pieces.append(piece)
                await self.push_frame(ReplyTextFrame(text=piece, timeline=timeline))
        except LLMError as exc:
            log.warning("LLM failed on a live turn: engine=%s reason=%s", exc.engine, exc.reason)
            if not pieces:
                pieces.append(APOLOGY)
                await self.push_frame(ReplyTextFrame(text=APOLOGY, timeline=timeline))
        await self.push_frame(ReplyEndFrame(text="".join(pieces), timeline=timeline))


class ClauseSplitting(FrameProcessor):
    """ReplyTextFrame pieces → ClauseFrames, the first as soon as it is complete."""

    def __init__(self, *, min_words: int = 4) -> None:
        super().__init__()
        self._splitter = ClauseSplitter(min_words=min_words)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, ReplyTextFrame):
            for clause in self._splitter.push(frame.text):
                await self.push_frame(ClauseFrame(text=clause, timeline=frame.timeline))
        elif isinstance(frame, ReplyEndFrame):
            rest = self._splitter.flush()
            await self.push_frame(ClauseFrame(text=" ".join(rest), timeline=frame.timeline, last=True))
        else:
            if isinstance(frame, InterruptionFrame):
                self._splitter.reset()
            await self.push_frame(frame, direction)
