"""Transcription: a user turn (finished or speculative) → its final transcript → the persona."""

from __future__ import annotations

import logging

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.engines.asr import ASRError, Recognizer, Transcript, TurnRecognizer
from pipeline.graph.events import SessionListener
from pipeline.graph.frames import UserTextFrame, UserTurnFrame

log = logging.getLogger(__name__)


class Transcriber(FrameProcessor):
    """UserTurnFrame → the shared recogniser → UserTextFrame (nothing for an empty transcript).

    A turn the recogniser fails on is dropped like one with no words (and
    logged, by turn id): no reply, the device's LED back to listening, and the
    next turn is heard as usual.

    A recogniser that schedules by turn (`TurnRecognizer`, the shared Whisper
    engine) is given the turn's timeline: a turn the user is waiting for
    overtakes speculative ones queued before it. A speculation cancelled by an
    interruption (the user spoke again) is dropped from its queue unrun.
    """

    def __init__(self, *, recognizer: Recognizer, listener: SessionListener) -> None:
        super().__init__()
        self._recognizer = recognizer
        self._by_turn = recognizer if isinstance(recognizer, TurnRecognizer) else None
        self._listener = listener

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if not isinstance(frame, UserTurnFrame):
            await self.push_frame(frame, direction)
            return
        timeline = frame.timeline
        text = ""
        try:
            transcript = await self._transcribe(frame)
            timeline.mark("transcript_final")
            text = transcript.text.strip()
            timeline.user_text = text
        except ASRError as exc:
            log.warning("asr failed on turn %d, dropped: %s", timeline.turn_id, type(exc).__name__)
        finally:
            timeline.transcribed.set()
        if not text:
            if timeline.committed:
                await self._listener.on_led("listening")
            return
        # A speculative turn's transcript is sent when the turn is committed (by the listening stage).
        if timeline.committed and not timeline.transcript_sent:
            timeline.transcript_sent = True
            await self._listener.on_transcript(text, timeline)
        await self.push_frame(UserTextFrame(text=text, timeline=timeline))

    async def _transcribe(self, frame: UserTurnFrame) -> Transcript:
        if self._by_turn is not None:
            return await self._by_turn.transcribe_turn(frame.audio, frame.timeline)
        return await self._recognizer.transcribe(frame.audio)
