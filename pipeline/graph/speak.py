"""The persona's voice: clauses → speech, with the voice swapped in place at a frame boundary."""

from __future__ import annotations

import logging

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.graph.frames import ClauseFrame, SpeechAudioFrame
from pipeline.graph.persona import PersonaSlot
from pipeline.voices import VoiceError

log = logging.getLogger(__name__)


class PersonaVoice(FrameProcessor):
    """ClauseFrame → SpeechAudioFrame chunks as the voice yields them.

    The voice is read from the session's persona slot as each clause starts; the
    switcher interrupts first, so the old voice's unfinished speech stops.

    A clause the voice fails on is skipped (and logged, without its text): the
    rest of the reply is still spoken, and the clause is still closed, so the
    output ends the reply and the device's LED goes back to listening.
    """

    def __init__(self, *, persona: PersonaSlot) -> None:
        super().__init__()
        self._persona = persona

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, ClauseFrame):
            await self._speak(frame)
        else:
            await self.push_frame(frame, direction)

    async def _speak(self, frame: ClauseFrame) -> None:
        voice = frame.voice or self._persona.binding.voice
        spoken = frame.text
        if frame.text.strip():
            chunks = 0
            try:
                async for chunk in voice.synthesize(frame.text):
                    if frame.timeline is not None:
                        frame.timeline.mark("first_audio")
                    chunks += 1
                    await self.push_frame(self._audio(chunk.tobytes(), voice.sample_rate, frame))
            except VoiceError as exc:
                turn = frame.timeline.turn_id if frame.timeline is not None else None
                log.warning(
                    "voice %s failed on a clause of turn %s after %d chunks, skipped: %s",
                    voice.name,
                    turn,
                    chunks,
                    exc,
                )
                if chunks == 0:
                    spoken = ""  # nothing of it was heard, so the conversation must not keep its words
        # An empty chunk closes the clause (and maybe the reply), so the sink needs no timeout.
        await self.push_frame(
            self._audio(b"", voice.sample_rate, frame, clause_done=True, reply_done=frame.last, clause=spoken)
        )

    @staticmethod
    def _audio(
        audio: bytes,
        rate: int,
        frame: ClauseFrame,
        *,
        clause_done: bool = False,
        reply_done: bool = False,
        clause: str | None = None,
    ) -> SpeechAudioFrame:
        return SpeechAudioFrame(
            audio=audio,
            sample_rate=rate,
            clause=frame.text if clause is None else clause,
            timeline=frame.timeline,
            clause_done=clause_done,
            reply_done=reply_done,
        )
