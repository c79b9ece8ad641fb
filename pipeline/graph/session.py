"""One device's voice session: the pipecat pipeline, fed by the transport, speaking through a listener.

    audio in ─► TurnTracker (16 kHz, shared VAD, shared Smart Turn; at the edge, see listen.py)
      ─► Transcriber (shared Whisper)
      ─► ReplyGenerator (the persona's LLM, streaming) ─► ClauseSplitting ─► PersonaVoice ─► DeviceOutput

Engines are shared by every session; a session holds only its own state.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

from pipecat.frames.frames import EndFrame, Frame, InterruptionFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.workers.runner import WorkerRunner

from pipeline.audio import Int16Array
from pipeline.engines.asr import Recognizer
from pipeline.engines.turn import TurnModel
from pipeline.engines.vad import VoiceActivityDetector
from pipeline.graph.conversation import Conversation
from pipeline.graph.events import SessionListener
from pipeline.graph.frames import ClauseFrame, CutDoneFrame, UserTextFrame
from pipeline.graph.listen import TurnParams, TurnTracker
from pipeline.graph.output import DeviceOutput, Playback
from pipeline.graph.pauses import PauseProfile
from pipeline.graph.persona import PersonaBinding, PersonaSlot
from pipeline.graph.reply import ClauseSplitting, ReplyGenerator
from pipeline.graph.speak import PersonaVoice
from pipeline.graph.timeline import TurnTimeline
from pipeline.graph.transcribe import Transcriber
from pipeline.llm import ChatMessage
from pipeline.voices import Voice

START_TIMEOUT_S = 10.0
CUT_TIMEOUT_S = 5.0


@dataclass(frozen=True, eq=False)
class Engines:
    """The models every session shares: loaded once per process (in tests, fakes of them)."""

    vad: VoiceActivityDetector
    turn: TurnModel
    asr: Recognizer


class VoiceSession:
    def __init__(
        self,
        *,
        engines: Engines,
        binding: PersonaBinding,
        listener: SessionListener,
        history: Iterable[ChatMessage] = (),
        keep_last: int = 40,
        lead_s: float = 0.3,
        turn_params: TurnParams | None = None,
        pause_profile: PauseProfile | None = None,
    ) -> None:
        """`pause_profile`: what a persona in ``learning`` mode learned of this speaker before."""
        self._persona = PersonaSlot(binding)
        self.conversation = Conversation(history, keep_last=keep_last)
        self.playback = Playback()
        self._turns = 0
        pipeline = Pipeline(
            [
                Transcriber(recognizer=engines.asr, listener=listener),
                ReplyGenerator(persona=self._persona, conversation=self.conversation),
                ClauseSplitting(),
                PersonaVoice(persona=self._persona),
                DeviceOutput(
                    listener=listener, conversation=self.conversation, playback=self.playback, lead_s=lead_s
                ),
            ]
        )
        self._worker = PipelineWorker(
            pipeline,
            cancel_on_idle_timeout=False,
            cancel_runner_on_idle_timeout=False,
            idle_timeout_secs=None,
            enable_rtvi=False,
            enable_turn_tracking=False,
            check_dangling_tasks=False,
            params=PipelineParams(audio_in_sample_rate=16_000, audio_out_sample_rate=22_050),
        )
        self._tracker = TurnTracker(
            vad=engines.vad,
            turn_model=engines.turn,
            listener=listener,
            playback=self.playback,
            emit=self._worker.queue_frame,
            params=turn_params,
            adaptation_mode=binding.adaptation_mode,
            pause_profile=pause_profile,
        )
        self._runner = WorkerRunner(handle_sigint=False, handle_sigterm=False, check_dangling_tasks=False)
        self._run: asyncio.Task[None] | None = None
        self._started = asyncio.Event()

        @self._worker.event_handler("on_pipeline_started")  # type: ignore[untyped-decorator]
        async def _started(worker: PipelineWorker, frame: Frame) -> None:
            self._started.set()

    async def start(self) -> None:
        await self._runner.add_workers(self._worker)
        self._run = asyncio.create_task(self._runner.run(), name="voice-session")
        await asyncio.wait_for(self._started.wait(), START_TIMEOUT_S)

    async def stop(self) -> None:
        self._tracker.close()
        if self._run is None:
            return
        await self._worker.queue_frame(EndFrame())
        try:
            await asyncio.wait_for(asyncio.shield(self._run), 5.0)
        except TimeoutError:
            await self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._run, 5.0)
        self._run = None

    async def push_audio(self, pcm: Int16Array, sample_rate: int) -> None:
        """Device audio, PCM16 mono at any supported rate: listened to at the edge of the graph."""
        await self._tracker.feed(pcm, sample_rate)

    async def push_text(self, text: str) -> None:
        """A typed turn: answered by the same persona and voice as a spoken one."""
        self._turns += 1
        timeline = TurnTimeline(turn_id=-self._turns)
        timeline.mark("turn_end")
        await self._worker.queue_frame(UserTextFrame(text=text, timeline=timeline))

    async def push_to_talk(self, pressed: bool) -> None:
        await self._tracker.set_push_to_talk(pressed)

    async def interrupt(self) -> None:
        """Stop the bot talking (a button, or an operator)."""
        await self._worker.queue_frame(InterruptionFrame())

    async def cut(self) -> None:
        """Stop whatever the bot is saying or preparing; returns once the output has handled the cut.

        By then the cut reply's turn (with the words actually played) has been reported to the
        listener and added to the conversation, so a conversation replaced after this can receive
        nothing of the old one.
        """
        done = asyncio.Event()
        await self._worker.queue_frame(InterruptionFrame())
        await self._worker.queue_frame(CutDoneFrame(done=done))
        await asyncio.wait_for(done.wait(), CUT_TIMEOUT_S)

    async def say(self, text: str, voice: Voice | None = None) -> None:
        """Speak a line that answers nobody (a transition, a handoff notice) in the current voice, or in
        `voice` (a reminder in another persona's voice)."""
        await self._worker.queue_frame(ClauseFrame(text=text, timeline=None, last=True, voice=voice))

    def hold(
        self, binding: PersonaBinding, history: Iterable[ChatMessage], pauses: PauseProfile | None = None
    ) -> None:
        """Speak as `binding` and hold `history` as the conversation from the next frame on.

        Another conversation may be another person's, so what was learned of the speaker's
        pauses is replaced too: by `pauses` (what a ``learning`` persona kept with it), or by
        nothing. Call it after `cut`, so that nothing of the previous conversation is still on
        its way.
        """
        self._persona.binding = binding
        self._tracker.learn_afresh(binding.adaptation_mode, pauses)
        self.conversation.replace(history)

    @property
    def binding(self) -> PersonaBinding:
        return self._persona.binding

    @property
    def pause_profile(self) -> PauseProfile:
        """What the session has learned of the speaker's pauses (durations and verdicts only)."""
        return self._tracker.pauses.profile

    async def switch(
        self, binding: PersonaBinding, *, transition_message: str | None, preserve_context: bool
    ) -> float:
        """Swap persona in place; returns the measured seconds until the new persona is live.

        The old persona's unfinished speech is cut first (an interruption, queued
        ahead of anything else), then the voice and the engine change as one
        reference swap that every stage sees at its next frame, then the
        transition message (if any) is spoken in the new voice. The time
        returned runs until the swap is done, the interruption on its way.
        """
        started = time.perf_counter()
        await self._worker.queue_frame(InterruptionFrame())
        self._persona.binding = binding
        self._tracker.pauses.mode = binding.adaptation_mode
        if not preserve_context:
            self.conversation.clear()
        elapsed = time.perf_counter() - started
        if transition_message:
            await self._worker.queue_frame(ClauseFrame(text=transition_message, timeline=None, last=True))
        return elapsed
