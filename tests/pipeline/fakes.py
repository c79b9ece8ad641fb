"""Fakes of the engines the graph uses, with failure knobs, and a listener recording what the device is told.

Each fake implements the engine's protocol (`VoiceActivityDetector`, `TurnModel`,
`Recognizer`, `Voice`, `Responder`) and nothing more: no model, no thread, so a
graph test runs in milliseconds. Knobs follow livekit's `fake_tts.py`: a fake
can be told to fail (`fail_with`, `fail_on`, `fake_exception`), to wait for the
test (`hold`, an `asyncio.Event` the test sets) or to take its time (`delay_s`).
Each records what it was given, so a test can check exactly what reached it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pipeline.engines.asr import ASRError, Transcript
from pipeline.engines.turn import TurnPrediction
from pipeline.engines.vad import VADEvent
from pipeline.graph.events import LedState
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm import ChatMessage, LLMError, TokenUsage
from pipeline.llm.briefing import Briefing
from pipeline.voices import VoiceError

SAMPLE_RATE = 16_000
LOUD = 8_000
"""The sample value of `speech()`: far above `FakeVADStream`'s threshold."""


def speech(seconds: float, *, rate: int = SAMPLE_RATE) -> npt.NDArray[np.int16]:
    """Audio the fake VAD calls speech (a constant, loud signal)."""
    return np.full(round(seconds * rate), LOUD, dtype=np.int16)


def silence(seconds: float, *, rate: int = SAMPLE_RATE) -> npt.NDArray[np.int16]:
    return np.zeros(round(seconds * rate), dtype=np.int16)


# --- VAD ---------------------------------------------------------------------------------------------


class FakeVADStream:
    """Decides per fed chunk, by its loudness: a chunk with a sample above `threshold` is speech.

    It reports the same events as the Silero stream, at chunk granularity:
    ``speech_started`` on the first loud chunk, ``pause_started`` on the first
    quiet one after speech, ``speech_resumed`` on speech within the pause, and
    ``speech_stopped`` once the pause has lasted `stop_silence_s`.
    """

    def __init__(self, *, threshold: int = 1_000, stop_silence_s: float = 0.2) -> None:
        self._threshold = threshold
        self._stop_silence_s = stop_silence_s
        self._position_s = 0.0
        self._phase = "quiet"
        self._pause_edge_s = 0.0
        self.feeds = 0
        self.expected: list[float] = []
        """What `expect_speech` was asked for (this stream starts speech on one loud chunk anyway)."""

    @property
    def starting(self) -> bool:
        return False

    @property
    def scored_s(self) -> float:
        return self._position_s

    def expect_speech(self, seconds: float) -> None:
        self.expected.append(seconds)

    def feed_async(
        self, pcm16k: npt.NDArray[np.int16] | npt.NDArray[np.float32]
    ) -> Awaitable[list[VADEvent]]:
        return self._feed(pcm16k)

    async def _feed(self, pcm16k: npt.NDArray[np.int16] | npt.NDArray[np.float32]) -> list[VADEvent]:
        self.feeds += 1
        start = self._position_s
        self._position_s = end = start + len(pcm16k) / SAMPLE_RATE
        loud = pcm16k.size > 0 and float(np.abs(pcm16k.astype(np.float32)).max()) > self._threshold
        match self._phase, loud:
            case "quiet", True:
                self._phase = "speaking"
                return [VADEvent(kind="speech_started", at_s=end, edge_s=start)]
            case "speaking", False:
                self._phase, self._pause_edge_s = "paused", start
                return [VADEvent(kind="pause_started", at_s=end, edge_s=start)]
            case "paused", True:
                self._phase = "speaking"
                return [VADEvent(kind="speech_resumed", at_s=end, edge_s=start)]
            case "paused", False if end - self._pause_edge_s >= self._stop_silence_s:
                self._phase = "quiet"
                return [VADEvent(kind="speech_stopped", at_s=end, edge_s=self._pause_edge_s)]
        return []


class FakeVAD:
    """Opens `FakeVADStream`s and keeps them, so a test can look at what each was fed."""

    def __init__(self, *, threshold: int = 1_000, stop_silence_s: float = 0.2) -> None:
        self._threshold = threshold
        self._stop_silence_s = stop_silence_s
        self.streams: list[FakeVADStream] = []
        self.closed = False

    def open_stream(self) -> FakeVADStream:
        stream = FakeVADStream(threshold=self._threshold, stop_silence_s=self._stop_silence_s)
        self.streams.append(stream)
        return stream

    def close(self) -> None:
        self.closed = True


# --- end of turn -------------------------------------------------------------------------------------


class FakeTurnModel:
    """Answers with scripted probabilities, one per call (the last one repeats).

    `hold`: while set to an unset event, every prediction waits for it (the turn
    stays undecided until the test releases it). `predicting` is set once a
    prediction has been asked for.
    """

    def __init__(
        self,
        probabilities: Sequence[float] = (0.9,),
        *,
        threshold: float = 0.5,
        hold: asyncio.Event | None = None,
        fail_with: BaseException | None = None,
    ) -> None:
        self._probabilities = list(probabilities)
        self._threshold = threshold
        self.hold = hold
        self.fail_with = fail_with
        self.calls: list[int] = []
        """The number of samples each prediction was given."""
        self.predicting = asyncio.Event()

    async def predict(self, audio_16k: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> TurnPrediction:
        self.calls.append(len(audio_16k))
        self.predicting.set()
        if self.hold is not None:
            await self.hold.wait()
        if self.fail_with is not None:
            raise self.fail_with
        probability = self._probabilities[min(len(self.calls), len(self._probabilities)) - 1]
        return TurnPrediction(
            complete=probability > self._threshold, probability=probability, inference_ms=0.0
        )

    def close(self) -> None:
        pass


# --- speech recognition ------------------------------------------------------------------------------


class FakeRecognizer:
    """Returns scripted transcripts, one per turn (the last one repeats).

    `fail_with`: while set, every call raises it (an `ASRError`, as the real
    engine raises). `hold`: calls wait for the event. `delay_s`: calls take this
    long. `done` is set each time a call has returned or raised.
    """

    def __init__(
        self,
        transcripts: Sequence[str] = ("Hello there, how are you?",),
        *,
        fail_with: BaseException | None = None,
        hold: asyncio.Event | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self._transcripts = list(transcripts)
        self.fail_with = fail_with
        self.hold = hold
        self.delay_s = delay_s
        self.calls: list[int] = []
        """The number of samples each call was given."""
        self.failures = 0
        self.done = asyncio.Event()

    async def transcribe(self, audio: npt.NDArray[np.float32]) -> Transcript:
        self.calls.append(len(audio))
        try:
            if self.hold is not None:
                await self.hold.wait()
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.fail_with is not None:
                self.failures += 1
                raise self.fail_with
            text = self._transcripts[min(len(self.calls), len(self._transcripts)) - 1]
            return Transcript(text=text, audio_s=len(audio) / SAMPLE_RATE, inference_ms=0.0, queued_ms=0.0)
        finally:
            self.done.set()

    def close(self) -> None:
        pass


def asr_failure() -> ASRError:
    return ASRError("transcription failed: FakeFailure")


# --- voice -------------------------------------------------------------------------------------------


class FakeVoice:
    """Speaks each clause as `chunks` chunks of silence, `chunk_s` seconds each.

    `fail_on`: a clause containing this text fails after `fail_after_chunks`
    chunks, raising `fake_exception` (a `VoiceError` by default).
    `delay_s`: each chunk takes this long. `spoken` lists the clauses asked for.
    """

    def __init__(
        self,
        *,
        name: str = "fake:voice",
        sample_rate: int = SAMPLE_RATE,
        chunks: int = 2,
        chunk_s: float = 0.01,
        fail_on: str | None = None,
        fail_after_chunks: int = 0,
        fake_exception: BaseException | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self._name = name
        self._sample_rate = sample_rate
        self._chunks = chunks
        self._chunk_s = chunk_s
        self.fail_on = fail_on
        self.fail_after_chunks = fail_after_chunks
        self.fake_exception = fake_exception
        self.delay_s = delay_s
        self.spoken: list[str] = []
        self.failures = 0

    @property
    def name(self) -> str:
        return self._name

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    async def synthesize(self, text: str) -> AsyncIterator[npt.NDArray[np.int16]]:
        self.spoken.append(text)
        fails = self.fail_on is not None and self.fail_on in text
        for index in range(self._chunks):
            if fails and index == self.fail_after_chunks:
                break
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            yield np.zeros(max(1, round(self._chunk_s * self._sample_rate)), dtype=np.int16)
        if fails:
            self.failures += 1
            raise self.fake_exception or VoiceError("the fake voice failed", engine="fake")


# --- responder ---------------------------------------------------------------------------------------


class _FakeReplyStream:
    def __init__(self, responder: FakeResponder, tokens: list[str]) -> None:
        self._responder = responder
        self._tokens = tokens
        self.usage = TokenUsage()

    async def __aiter__(self) -> AsyncIterator[str]:
        responder = self._responder
        for index, token in enumerate(self._tokens):
            if responder.fail_with is not None and index == responder.fail_after_tokens:
                raise responder.fail_with
            if responder.delay_s:
                await asyncio.sleep(responder.delay_s)
            yield token
        if responder.fail_with is not None and responder.fail_after_tokens >= len(self._tokens):
            raise responder.fail_with
        self.usage = TokenUsage(input_tokens=1, output_tokens=len(self._tokens))


class FakeResponder:
    """Streams scripted replies token by token, one reply per call (the last one repeats).

    `fail_with` (an `LLMError`) is raised after `fail_after_tokens` tokens.
    `received` holds the exact messages of every call.
    """

    def __init__(
        self,
        replies: Sequence[Sequence[str]] = (("Hello! ", "Nice to ", "hear from you."),),
        *,
        fail_with: LLMError | None = None,
        fail_after_tokens: int = 0,
        delay_s: float = 0.0,
    ) -> None:
        self._replies = [list(reply) for reply in replies]
        self.fail_with = fail_with
        self.fail_after_tokens = fail_after_tokens
        self.delay_s = delay_s
        self.received: list[list[ChatMessage]] = []
        self.briefings: list[Briefing | None] = []

    @property
    def engine_name(self) -> str:
        return "fake"

    def stream(self, messages: Sequence[ChatMessage], briefing: Briefing | None = None) -> _FakeReplyStream:
        self.received.append(list(messages))
        self.briefings.append(briefing)
        reply = self._replies[min(len(self.received), len(self._replies)) - 1]
        return _FakeReplyStream(self, reply)


def llm_failure() -> LLMError:
    return LLMError("the fake LLM failed", engine="fake", reason="overloaded", retryable=True)


# --- what the device is told -------------------------------------------------------------------------


@dataclass
class TurnDone:
    user_text: str
    spoken_text: str
    interrupted: bool
    timeline: TurnTimeline | None


class RecordingListener:
    """A `SessionListener` that records every call; `wait_until` waits for a condition on them."""

    def __init__(self) -> None:
        self.leds: list[LedState] = []
        self.transcripts: list[tuple[str, TurnTimeline]] = []
        self.audio: list[tuple[int, str]] = []
        """(bytes, clause) of each reply chunk sent."""
        self.replies: list[str] = []
        self.stops = 0
        self.turns: list[TurnDone] = []
        self._changed = asyncio.Condition()

    async def wait_until(self, predicate: Callable[[], bool], *, timeout_s: float = 5.0) -> None:
        """Wait for `predicate` to hold (the timeout only keeps a broken graph from hanging the run)."""
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(predicate)

    async def _record(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def on_led(self, state: LedState) -> None:
        self.leds.append(state)
        await self._record()

    async def on_transcript(self, text: str, timeline: TurnTimeline) -> None:
        self.transcripts.append((text, timeline))
        await self._record()

    async def on_reply_audio(
        self, audio: bytes, sample_rate: int, text: str, timeline: TurnTimeline | None
    ) -> None:
        self.audio.append((len(audio), text))
        await self._record()

    async def on_reply_done(
        self, text: str, audio: bytes, sample_rate: int, timeline: TurnTimeline | None
    ) -> None:
        self.replies.append(text)
        await self._record()

    async def on_stop_playback(self) -> None:
        self.stops += 1
        await self._record()

    async def on_turn_done(
        self, user_text: str, spoken_text: str, interrupted: bool, timeline: TurnTimeline | None
    ) -> None:
        self.turns.append(TurnDone(user_text, spoken_text, interrupted, timeline))
        await self._record()
