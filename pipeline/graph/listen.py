"""Listening: device audio → 16 kHz → VAD → end of turn, with the reply prepared speculatively.

This stage runs at the edge of the graph, before pipecat: the device's audio
is needed nowhere after it, and a frame's hop through a pipecat processor (its
queue and task switch) costs more than the VAD itself, which made 300 idle
devices (15,000 audio frames a second) fall behind real time. So `TurnTracker`
is a plain object the transport feeds directly; it emits into the pipeline
only what later stages need: `UserStartedSpeakingFrame`, an interruption, a
speculative `UserTurnFrame`, `CommitTurnFrame`.

As soon as the user pauses (the VAD's first silent window) the turn so far is
sent on as a *speculative* `UserTurnFrame`: transcription, the LLM and the
first clause's speech start at once, and the reply is held at the output. The
turn is then judged. It ends after a short silence (`confident_silence_ms`, or
what `pipeline.graph.pauses` learned of this speaker's pauses) when

- Smart Turn is confident it is complete (probability ≥ `confident_probability`), or
- the speculative transcript, ready ~200 ms into the pause, is a finished
  question ("…?") or request ("Tell me a story about the sea."), or a finished
  statement that Smart Turn also rates complete at its own threshold
  (`statement_probability`); see `pipeline.text.completeness` (a bare "Hello."
  or a trailing "and" never is);

and after a longer one otherwise (`fallback_silence_ms`, or learned), so a
statement the model misjudges (TTS and read speech often are) is still
answered within about a second. When the turn plainly goes on — Smart Turn
below `unfinished_probability` and a transcript that stops mid-sentence ("The
person at extension", "…and", "…the", "Well…") — it waits at least
`unfinished_silence_ms` (`judge_unfinished`): someone reading out a number or
searching for a word gets the time, and no finished sentence waits longer; and
when its last word is one no sentence ends on ("…I went to the", "…and", "…um"),
`dangling_silence_ms` (3 s, as long as stock pipecat waits on an unfinished turn).
A window of voice the VAD has not yet confirmed holds the turn open until it
has. Then a `CommitTurnFrame` releases the held reply; `TurnTimeline.end_rule`
keeps what ended the turn. Every pause after which the speaker went on teaches the `PauseModel` (persona
`adaptation_mode`), so someone who stops for a second mid-thought gets more
time and a brisk speaker a quicker answer.

A turn judged over too early is taken back: when the user speaks again within
`continuation_ms` of the end of their speech and the reply has not finished,
the reply is cut (as in a barge-in) on the first VAD window of their voice, the turn is marked retracted (the
conversation will not keep it), and the new speech continues the same
utterance, whose audio starts with the retracted turn's: the whole sentence is
transcribed and answered once. Speech that resumes first cancels
the speculation (an interruption the output treats as silent) and the same
turn goes on: one answer, not two. Speech while the bot talks is a barge-in.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pipecat.frames.frames import Frame, InterruptionFrame, UserStartedSpeakingFrame, UserStoppedSpeakingFrame

from pipeline.audio import Int16Array, StreamResampler
from pipeline.engines.turn import TurnModel, TurnPrediction
from pipeline.engines.vad import VADEvent, VoiceActivityDetector
from pipeline.graph.events import SessionListener
from pipeline.graph.frames import CommitTurnFrame, UserTurnFrame
from pipeline.graph.output import Playback
from pipeline.graph.pauses import AdaptationMode, PauseModel, PauseParams, PauseProfile
from pipeline.graph.timeline import EndRule, TurnTimeline
from pipeline.text.completeness import MIN_WORDS, completeness, dangles

SAMPLE_RATE = 16_000
PRE_ROLL_S = 0.3
MAX_TURN_S = 30.0
TAIL_SAMPLES = int(0.4 * SAMPLE_RATE)
VAD_WINDOW_S = 0.032
ONSET_WINDOWS = 4
"""At the end of the silence, how many VAD windows a possible start of speech may hold the turn open."""
HEARD_TIMEOUT_S = 0.25
"""How long the end of a turn waits for the device's audio to catch up before it is judged without it."""
_WORD = re.compile(r"[A-Za-z0-9']+")
_TRAILING_ELLIPSIS = re.compile(r"(\.\.|…)$")


@dataclass(frozen=True)
class TurnParams:
    confident_probability: float = 0.8
    confident_silence_ms: int = 350
    """Silence that ends a turn Smart Turn is confident about (static; the least when adapting)."""
    fallback_silence_ms: int = 950
    """Silence that ends any turn; a pause inside a sentence is usually shorter (static)."""
    pauses: PauseParams = field(default_factory=PauseParams)
    """How the two silences adapt to the speaker (see `pipeline.graph.pauses`)."""
    use_transcript: bool = True
    """Let a finished question or request, or a finished statement Smart Turn agrees with, end the turn
    after `confident_silence_ms`."""
    statement_probability: float = 0.5
    unfinished_probability: float = 0.8
    """Below this Smart Turn probability, a transcript that stops mid-sentence makes the turn unfinished
    (as `confident_probability`: the words decide whenever Smart Turn is not confident)."""
    unfinished_silence_ms: int = 1200
    """Silence that ends an unfinished turn (at least; every adaptation mode)."""
    dangling_silence_ms: int = 3000
    """Silence that ends an unfinished turn whose last word no sentence ends on (`judge_dangling`).
    Judged on every clip here (fixtures, synthetic held-out, human): no finished turn's transcript
    ends on such a word; 14 of 196 pauses inside a turn do."""
    continuation_ms: int = 1500
    """Speech starting again this soon after the end of a turn's speech continues that turn,
    unless its reply has been played to the end."""
    turn_window_s: float = 8.0
    """The end-of-turn model sees at most this much of the utterance."""


Emit = Callable[[Frame], Awaitable[None]]


def judge_turn_end(params: TurnParams, prediction: TurnPrediction, transcript: str | None) -> EndRule:
    """What ends the turn after `confident_silence_ms`, or "silence" (it waits `fallback_silence_ms`).

    `transcript`: the speculative transcript, or None while it is not ready.
    """
    if prediction.complete and prediction.probability >= params.confident_probability:
        return "smart_turn"
    if transcript is None or not params.use_transcript:
        return "silence"
    kind = completeness(transcript)
    if kind in ("question", "request"):
        return kind
    if kind == "statement" and prediction.probability >= params.statement_probability:
        return "statement"
    return "silence"


def judge_unfinished(params: TurnParams, prediction: TurnPrediction, transcript: str | None) -> bool:
    """Whether a turn judged "silence" plainly goes on, so it waits `unfinished_silence_ms`.

    Both must agree: Smart Turn below `unfinished_probability`, and a speculative
    transcript that does not end a sentence — no final punctuation, a trailing "…",
    or a last word after which an English sentence goes on ("and", "to", "the";
    see `pipeline.text.completeness`). A short punctuated "Hello." or "Tell me."
    is not enough: it is often a whole turn. No words (not ready, or none heard) is
    not enough either.
    """
    if (
        not params.use_transcript
        or transcript is None
        or prediction.probability >= params.unfinished_probability
    ):
        return False
    text = transcript.strip().rstrip("\"')]")
    if not text or completeness(text) != "incomplete":
        return False
    if text[-1] not in "?.!" or _TRAILING_ELLIPSIS.search(text):
        return True
    # Punctuated yet incomplete: too short, or ending on a word a sentence cannot end on.
    return len(_WORD.findall(text)) >= MIN_WORDS


def judge_dangling(params: TurnParams, prediction: TurnPrediction, transcript: str | None) -> bool:
    """Whether an unfinished turn (`judge_unfinished`) stopped on a word no sentence ends on, so it
    waits `dangling_silence_ms`: "…and I went to the", "…because", "…my", "…um"."""
    return (
        params.dangling_silence_ms > 0
        and transcript is not None
        and judge_unfinished(params, prediction, transcript)
        and dangles(transcript)
    )


class TurnTracker:
    def __init__(
        self,
        *,
        vad: VoiceActivityDetector,
        turn_model: TurnModel,
        listener: SessionListener,
        playback: Playback,
        emit: Emit,
        params: TurnParams | None = None,
        adaptation_mode: AdaptationMode = "static",
        pause_profile: PauseProfile | None = None,
    ) -> None:
        """`emit` queues a frame into the pipeline, in order, ahead of nothing."""
        self._emit = emit
        self._vad_stream = vad.open_stream()
        self._turn_model = turn_model
        self._listener = listener
        self._playback = playback
        self._params = params = params or TurnParams()
        self.pauses = self._pause_model(adaptation_mode, pause_profile)
        """This speaker's pauses, and the silences that end their turns."""
        self._heard: tuple[float, asyncio.Future[None]] | None = None
        """A judge waiting until the VAD has decided the audio up to a stream time."""
        self._pause_edge_s = 0.0
        self._pause_confident = False
        """Whether the turn sounded finished at the current pause (once judged)."""
        self._resampler = StreamResampler(SAMPLE_RATE)
        self._audio = np.zeros(0, dtype=np.int16)
        """Recent audio (pre-roll) while idle; the utterance while the user speaks."""
        self._stream_s = 0.0
        self._in_turn = False
        self._speculation: TurnTimeline | None = None
        self._judge: asyncio.Task[None] | None = None
        self._turns = 0
        self._push_to_talk = False
        self._last: TurnTimeline | None = None
        """The last committed turn, its audio and where its speech ended (stream seconds)."""
        self._last_audio = np.zeros(0, dtype=np.int16)
        self._last_edge_s = 0.0
        self._continues: TurnTimeline | None = None

    def learn_afresh(self, mode: AdaptationMode, profile: PauseProfile | None = None) -> None:
        """Another speaker (or none known) from now on: what was learned gives way to `profile`, if any.

        The last turn is forgotten too: speech right after this is a turn of its own, never the
        continuation of someone else's, whose audio it would otherwise carry.
        """
        self.pauses = self._pause_model(mode, profile)
        self._last = None
        self._last_audio = np.zeros(0, dtype=np.int16)

    def _pause_model(self, mode: AdaptationMode, profile: PauseProfile | None) -> PauseModel:
        params = self._params
        return PauseModel(
            confident_silence_ms=params.confident_silence_ms,
            fallback_silence_ms=params.fallback_silence_ms,
            unfinished_silence_ms=params.unfinished_silence_ms,
            dangling_silence_ms=params.dangling_silence_ms,
            mode=mode,
            params=params.pauses,
            profile=profile,
        )

    async def set_push_to_talk(self, pressed: bool) -> None:
        """A held button is speech, whatever the VAD says; releasing it ends the turn at once."""
        self._push_to_talk = pressed
        if pressed:
            await self._cancel_speculation()
            await self._turn_started()
        elif self._in_turn:
            timeline = await self._speculate(edge_s=self._stream_s)
            await self._commit(timeline, "push_to_talk")

    async def feed(self, pcm: Int16Array, sample_rate: int) -> None:
        """Device audio, PCM16 mono at any supported rate."""
        pcm16k = self._resampler.process(pcm, sample_rate)
        self._append(pcm16k)
        self._stream_s += len(pcm16k) / SAMPLE_RATE
        if self._push_to_talk:
            return
        for event in await self._vad_stream.feed_async(pcm16k):
            await self._on_vad(event)
        heard = self._heard
        if heard is not None and self._vad_stream.scored_s >= heard[0]:
            self._heard = None
            if not heard[1].done():
                heard[1].set_result(None)

    async def _on_vad(self, event: VADEvent) -> None:
        if event.kind in ("speech_started", "speech_resumed"):
            if self._in_turn and self._speculation is not None:
                # The speaker went on after a pause inside their turn: remember how long it was.
                self.pauses.observe(event.edge_s - self._pause_edge_s, confident=self._pause_confident)
            await self._cancel_speculation()
            await self._turn_started(edge_s=event.edge_s)
        elif event.kind == "pause_started" and self._in_turn:
            self._pause_edge_s = event.edge_s
            self._pause_confident = False
            await self._cancel_speculation()
            timeline = await self._speculate(edge_s=event.edge_s)
            self._judge = asyncio.create_task(self._judge_turn(timeline, event.edge_s))

    async def _turn_started(self, *, edge_s: float | None = None) -> None:
        if self._in_turn:
            return
        self._in_turn = True
        pre_roll = self._audio[-int(PRE_ROLL_S * SAMPLE_RATE) :]
        last = self._last
        if (
            last is not None
            and edge_s is not None
            and not last.answered
            and edge_s - self._last_edge_s <= self._params.continuation_ms / 1000
        ):
            # The last turn was judged over too early: take it back and go on with the same utterance.
            self.pauses.observe(edge_s - self._last_edge_s, confident=last.end_rule != "silence")
            last.retracted = True
            self._continues = last
            self._audio = np.concatenate([self._last_audio, pre_roll])
            await self._emit(InterruptionFrame())
        else:
            self._continues = None
            self._audio = pre_roll
            if self._playback.bot_speaking:
                await self._emit(InterruptionFrame())
        self._last = None
        await self._emit(UserStartedSpeakingFrame())
        await self._listener.on_led("listening")

    async def _speculate(self, *, edge_s: float) -> TurnTimeline:
        """Send the turn so far on, to be prepared while the silence is judged."""
        self._turns += 1
        speech_end = time.perf_counter() - max(0.0, self._stream_s - edge_s)
        timeline = TurnTimeline(turn_id=self._turns, speech_end=speech_end, committed=False)
        timeline.continues = self._continues.turn_id if self._continues is not None else None
        self._last_edge_s = edge_s
        self._speculation = timeline
        # Whisper, decoding a window fitted to the audio, tends to repeat itself on speech that stops
        # dead at the window's end; the silence a finished turn would have anyway avoids it.
        audio = np.concatenate([self._audio.astype(np.float32) / 32768.0, np.zeros(TAIL_SAMPLES, np.float32)])
        await self._emit(UserTurnFrame(audio=audio, timeline=timeline, padding=TAIL_SAMPLES))
        return timeline

    async def _judge_turn(self, timeline: TurnTimeline, edge_s: float) -> None:
        params = self._params
        window = self._audio[-int(params.turn_window_s * SAMPLE_RATE) :]
        prediction = await self._turn_model.predict(window)
        assert timeline.speech_end is not None
        fallback_at = timeline.speech_end + self.pauses.silence_s(confident=False)
        rule = judge_turn_end(params, prediction, None)
        unfinished = dangling = False
        if rule == "silence" and params.use_transcript:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(timeline.transcribed.wait(), fallback_at - time.perf_counter())
            if timeline.transcribed.is_set():
                rule = judge_turn_end(params, prediction, timeline.user_text)
                unfinished = rule == "silence" and judge_unfinished(params, prediction, timeline.user_text)
                dangling = unfinished and judge_dangling(params, prediction, timeline.user_text)
        self._pause_confident = rule != "silence"
        silence_s = self.pauses.silence_s(
            confident=rule != "silence", unfinished=unfinished, dangling=dangling
        )
        await asyncio.sleep(max(0.0, timeline.speech_end + silence_s - time.perf_counter()))
        # The silence must have been heard, not only waited: the VAD decides the audio in whole
        # windows, behind the clock, so speech resuming in the last moments is seen before answering.
        await self._heard_until(edge_s + silence_s)
        # A window of voice not yet confirmed as speech: let the VAD decide before answering.
        for _ in range(ONSET_WINDOWS):
            if not self._vad_stream.starting:
                break
            await asyncio.sleep(VAD_WINDOW_S)
        self._judge = None
        await self._commit(timeline, rule)

    async def _heard_until(self, stream_s: float) -> None:
        """Returns once the VAD has decided the audio up to `stream_s` (or the device's audio stalled)."""
        if self._vad_stream.scored_s >= stream_s:
            return
        heard = asyncio.get_running_loop().create_future()
        self._heard = (stream_s, heard)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard, HEARD_TIMEOUT_S)
        finally:
            if self._heard is not None and self._heard[1] is heard:
                self._heard = None

    async def _commit(self, timeline: TurnTimeline, rule: EndRule) -> None:
        if not self._in_turn or self._speculation is not timeline:
            return
        timeline.end_rule = rule
        self._in_turn = False
        self._speculation = None
        self._continues = None
        self._last = timeline if rule != "push_to_talk" else None
        self._last_audio = self._audio
        self._audio = np.zeros(0, dtype=np.int16)
        timeline.committed = True
        timeline.mark("turn_end")
        self.pauses.turn_ended()
        # If the speaker goes on, their first window of voice cuts the reply (see `_turn_started`).
        self._vad_stream.expect_speech(self._params.continuation_ms / 1000)
        await self._emit(UserStoppedSpeakingFrame())
        await self._emit(CommitTurnFrame(timeline=timeline))
        # Transcribed to no words, or the recogniser failed: nothing will answer this turn.
        heard_nothing = timeline.transcribed.is_set() and not timeline.user_text
        await self._listener.on_led("listening" if heard_nothing else "thinking")
        if timeline.user_text and not timeline.transcript_sent:
            timeline.transcript_sent = True
            await self._listener.on_transcript(timeline.user_text, timeline)

    async def _cancel_speculation(self) -> None:
        if self._judge is not None:
            self._judge.cancel()
            self._judge = None
        if self._speculation is not None:
            self._speculation = None
            # Stops the speculative work downstream; the output drops its held reply without a word.
            await self._emit(InterruptionFrame())

    def _append(self, pcm16k: np.ndarray[Any, np.dtype[np.int16]]) -> None:
        limit = int((MAX_TURN_S if self._in_turn else PRE_ROLL_S) * SAMPLE_RATE)
        self._audio = np.concatenate([self._audio, pcm16k])[-limit:]

    def close(self) -> None:
        if self._judge is not None:
            self._judge.cancel()
