"""The persona's voice: clauses → speech, with the voice swapped in place at a frame boundary."""

from __future__ import annotations

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.graph.frames import ClauseFrame, SpeechAudioFrame
from pipeline.graph.persona import PersonaSlot


class PersonaVoice(FrameProcessor):
    """ClauseFrame → SpeechAudioFrame chunks as the voice yields them.

    The voice is read from the session's persona slot as each clause starts; the
    switcher interrupts first, so the old voice's unfinished speech stops.
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
        voice = self._persona.binding.voice
        if frame.text.strip():
            async for chunk in voice.synthesize(frame.text):
                if frame.timeline is not None:
                    frame.timeline.mark("first_audio")
                await self.push_frame(self._audio(chunk.tobytes(), voice.sample_rate, frame))
        # An empty chunk closes the clause (and maybe the reply), so the sink needs no timeout.
        await self.push_frame(
            self._audio(b"", voice.sample_rate, frame, clause_done=True, reply_done=frame.last)
        )

    @staticmethod
    def _audio(
        audio: bytes, rate: int, frame: ClauseFrame, *, clause_done: bool = False, reply_done: bool = False
    ) -> SpeechAudioFrame:
        return SpeechAudioFrame(
            audio=audio,
            sample_rate=rate,
            clause=frame.text,
            timeline=frame.timeline,
            clause_done=clause_done,
            reply_done=reply_done,
        )
