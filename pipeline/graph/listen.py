"""Listening: device audio → 16 kHz → VAD → end of turn (Smart Turn, with a short fallback).

This is the first stage and the device's raw audio is needed nowhere after it,
so audio frames end here; the stage emits what later stages need:
`UserStartedSpeakingFrame`, an interruption when the user speaks over the bot
(barge-in), and `UserTurnFrame` once the turn is over.

End of turn: after `stop_silence_ms` of silence the VAD reports the speech
stopped; Smart Turn then judges the utterance. "Complete" ends the turn at once;
"incomplete" waits up to `fallback_ms` more for the user to go on, then ends it
anyway, so a statement the model misjudges is answered within about a second.
Speech that resumes in that window continues the same turn (one answer, not two).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from pipeline.audio import StreamResampler
from pipeline.engines.turn import SharedSmartTurn
from pipeline.engines.vad import SharedSileroVAD, VADEvent
from pipeline.graph.events import SessionListener
from pipeline.graph.frames import UserTurnFrame
from pipeline.graph.output import Playback
from pipeline.graph.timeline import TurnTimeline

SAMPLE_RATE = 16_000
PRE_ROLL_S = 0.3
MAX_TURN_S = 30.0


@dataclass(frozen=True)
class TurnParams:
    fallback_ms: int = 600
    """Extra silence after an "incomplete" verdict before the turn ends anyway."""
    turn_window_s: float = 8.0
    """The end-of-turn model sees at most this much of the utterance."""


class TurnDetector(FrameProcessor):
    def __init__(
        self,
        *,
        vad: SharedSileroVAD,
        turn_model: SharedSmartTurn,
        listener: SessionListener,
        playback: Playback,
        params: TurnParams | None = None,
    ) -> None:
        super().__init__()
        self._vad_stream = vad.open_stream()
        self._vad = vad
        self._turn_model = turn_model
        self._listener = listener
        self._playback = playback
        self._params = params or TurnParams()
        self._resampler = StreamResampler(SAMPLE_RATE)
        self._history = np.zeros(0, dtype=np.int16)
        """Recent audio (pre-roll) while idle; the utterance while the user speaks."""
        self._stream_s = 0.0
        self._speaking = False
        self._utterance_start = 0
        self._speech_end_s: float | None = None
        self._speech_end_at: float | None = None
        self._judge: asyncio.Task[None] | None = None
        self._turns = 0
        self._push_to_talk = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            await self._on_audio(frame)
        else:
            await self.push_frame(frame, direction)

    async def set_push_to_talk(self, pressed: bool) -> None:
        """A held button is speech, whatever the VAD says; releasing it ends the turn at once."""
        self._push_to_talk = pressed
        if pressed:
            await self._speech_started()
        elif self._speaking:
            self._speech_end_s = self._stream_s
            self._speech_end_at = time.perf_counter()
            await self._end_turn()

    async def _on_audio(self, frame: InputAudioRawFrame) -> None:
        pcm = np.frombuffer(frame.audio, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        pcm16k = self._resampler.process(pcm, frame.sample_rate)
        self._append(pcm16k)
        self._stream_s += len(pcm16k) / SAMPLE_RATE
        if self._push_to_talk:
            return
        for event in await self._vad.feed_async(self._vad_stream, pcm16k):
            await self._on_vad(event)

    async def _on_vad(self, event: VADEvent) -> None:
        if event.kind == "speech_started":
            self._cancel_judge()
            await self._speech_started()
        elif event.kind == "speech_stopped" and self._speaking:
            self._speech_end_s = event.edge_s
            self._speech_end_at = time.perf_counter() - max(0.0, self._stream_s - event.edge_s)
            self._judge = asyncio.create_task(self._judge_turn())

    async def _speech_started(self) -> None:
        if self._speaking:
            return
        self._speaking = True
        keep = int(PRE_ROLL_S * SAMPLE_RATE)
        self._history = self._history[-keep:]
        if self._playback.bot_speaking:
            await self.broadcast_interruption()
        await self.push_frame(UserStartedSpeakingFrame())
        await self._listener.on_led("listening")

    async def _judge_turn(self) -> None:
        utterance = self._history[-int(self._params.turn_window_s * SAMPLE_RATE) :]
        prediction = await self._turn_model.predict(utterance.astype(np.float32) / 32768.0)
        if not prediction.complete:
            await asyncio.sleep(self._params.fallback_ms / 1000)
        self._judge = None
        await self._end_turn()

    async def _end_turn(self) -> None:
        if not self._speaking:
            return
        self._speaking = False
        self._turns += 1
        timeline = TurnTimeline(turn_id=self._turns, speech_end=self._speech_end_at)
        timeline.mark("turn_end")
        audio = self._history.astype(np.float32) / 32768.0
        self._history = np.zeros(0, dtype=np.int16)
        await self.push_frame(UserStoppedSpeakingFrame())
        await self._listener.on_led("thinking")
        await self.push_frame(UserTurnFrame(audio=audio, timeline=timeline))

    def _append(self, pcm16k: np.ndarray[Any, np.dtype[np.int16]]) -> None:
        limit = int((MAX_TURN_S if self._speaking else PRE_ROLL_S) * SAMPLE_RATE)
        self._history = np.concatenate([self._history, pcm16k])[-limit:]

    def _cancel_judge(self) -> None:
        if self._judge is not None:
            self._judge.cancel()
            self._judge = None

    async def cleanup(self) -> None:
        self._cancel_judge()
        await super().cleanup()
