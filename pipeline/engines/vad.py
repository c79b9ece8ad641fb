"""Voice activity for every stream from one shared Silero model.

`SharedSileroVAD` owns the process's one onnxruntime session of Silero VAD v5
(the `silero_vad.onnx` bundled in the pipecat wheel; one intra-op thread,
sequential). `open_stream()` returns a `VADStream` that holds only its own
state: the model's recurrent state (2 x 128 floats, dropped while reset), the
model input being filled (64 samples of context from the previous window,
then the current 512-sample window), and the speech/silence state machine:
about 2.6 KB fresh, 3.8 KB once the model has run for it (tracemalloc). A
stream scores whole 512-sample windows (32 ms at 16 kHz) and turns the
probabilities into `VADEvent`s with hysteresis: ``speech_started`` once
`min_speech_ms` of speech is confirmed, ``pause_started`` on the first quiet
window after speech (so ASR can start on the pause), ``speech_resumed`` if
speech comes back before `stop_silence_ms`, and ``speech_stopped`` once the
pause has lasted `stop_silence_ms`.

Energy gate. A window whose RMS is below `VADParams.energy_floor_dbfs`
(-60 dBFS by default) is not given to the model: it scores 0 and the model's
recurrent state is reset, as Silero is after a stretch of silence. This is
what makes a silent device nearly free: a copy and a dot product per window,
no model call; 300 silent streams fed 20 ms int16 chunks cost about 50 ms of
CPU per second in all. It only helps when the device sends true or near
digital silence (muted, noise-suppressed or gated microphones). A live
microphone's room noise is usually louder than -60 dBFS; then every window
goes to the model, batched as below (300 such streams: about 0.55 s of CPU
per second).

Batching. The model takes a batch dimension (input [B, 576], state
[2, B, 128]) and its results are identical to one call per stream.
`feed_async` queues a stream's windows and, after at most `max_wait_s` (2 ms)
or as soon as `max_batch` streams are waiting, scores the windows of all
waiting streams in one call per round (a stream's windows are recurrent, so a
feed of several windows takes several rounds). Measured on this 2-core box,
model call alone: 0.11 ms for one window, 0.061 ms per window in a batch of 8,
0.055 ms in a batch of 50; with this module's Python around it, 0.14 ms alone
and 0.058 ms per window at 50. Batching halves the cost of a talking stream.

Where inference runs. Handing a call to a worker thread costs about 0.04 ms
of CPU per round trip. For a small round (up to `inline_max_windows`, 16
windows, < 1 ms of model time) that overhead is a third of the work while
blocking the event loop for under a millisecond is harmless, so it runs
inline. A larger batch (300 talking streams take 16 ms) would stall the loop
and with it output pacing, so it runs on one worker thread, where the hand-off
is under 4 % of the work.
"""

from __future__ import annotations

import asyncio
import enum
import math
from collections.abc import Awaitable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from pipeline.engines.voice_activity import (
    SAMPLE_RATE,
    WINDOW,
    WINDOW_S,
    EventKind,
    Float32Array,
    VADEvent,
    VADParams,
    VoiceActivityDetector,
    VoiceActivityStream,
)

__all__ = [
    "CONTEXT",
    "SAMPLE_RATE",
    "WINDOW",
    "WINDOW_S",
    "EventKind",
    "SharedSileroVAD",
    "VADEvent",
    "VADParams",
    "VADStream",
    "VoiceActivityDetector",
    "VoiceActivityStream",
]
"""The interface (`pipeline.engines.voice_activity`) is importable from here too, with the engine."""

CONTEXT = 64
_INT16_SCALE = np.float32(32768.0)
_FLOAT_SCALE = np.float32(1.0 / 32768.0)

# Pipecat's measured fix for noise and music drifting the recurrent state (see
# pipecat.audio.vad.silero): while quiet, reset the state every 2 s of audio once
# 5 windows in a row scored below 0.1.
_RESET_INTERVAL_WINDOWS = round(2.0 / WINDOW_S)
_RESET_MAX_PROBABILITY = 0.1
_RESET_LOW_WINDOWS = 5


class _Phase(enum.Enum):
    QUIET = 1
    STARTING = 2
    SPEAKING = 3
    PAUSED = 4


class _Job:
    """One feed of one stream: the model inputs of the windows it completed (None: under the gate)."""

    __slots__ = ("events", "future", "inputs", "next", "stream")

    def __init__(self, stream: VADStream, inputs: list[Float32Array | None]) -> None:
        self.stream = stream
        self.inputs = inputs
        self.next = 0
        self.events: list[VADEvent] = []
        self.future: asyncio.Future[list[VADEvent]] | None = None

    @property
    def model_windows(self) -> int:
        return sum(1 for x in self.inputs if x is not None)


class VADStream:
    """One audio stream's VAD state; the model lives in the `SharedSileroVAD` that opened it.

    Feed 16 kHz mono audio, int16 or float32 in [-1, 1], in chunks of any size.
    One feed at a time: `feed_async` must return before the next feed.
    """

    __slots__ = (
        "_buffer",
        "_busy",
        "_eager_until",
        "_edge",
        "_engine",
        "_fill",
        "_floor",
        "_low_run",
        "_params",
        "_phase",
        "_rnn",
        "_run",
        "_since_reset",
        "_windows",
        "probabilities",
    )

    def __init__(self, engine: SharedSileroVAD, params: VADParams, *, keep_probabilities: bool) -> None:
        self._engine = engine
        self._params = params
        # Compared with a window's sum of squares, in the buffer's int16 scale.
        self._floor = params.energy_floor_mean_square * WINDOW * float(_INT16_SCALE) ** 2
        # The model's input being filled: 64 samples of context, then the current window.
        self._buffer = np.zeros(CONTEXT + WINDOW, dtype=np.float32)
        self._fill = 0
        self._rnn: Float32Array | None = None  # [2, 128]; None is the zero state
        self._windows = 0
        self._phase = _Phase.QUIET
        self._run = 0
        self._edge = 0
        self._eager_until = 0
        """Window index before which one window of speech is enough to start speech."""
        self._since_reset = 0
        self._low_run = 0
        self._busy = False
        # Every window's probability, in order, when asked for (tests, tuning).
        self.probabilities: list[float] | None = [] if keep_probabilities else None

    @property
    def params(self) -> VADParams:
        return self._params

    @property
    def speaking(self) -> bool:
        """True from speech_started until speech_stopped, pauses included."""
        return self._phase in (_Phase.SPEAKING, _Phase.PAUSED)

    @property
    def starting(self) -> bool:
        """A window above the start threshold, speech not yet confirmed (`min_speech_ms`)."""
        return self._phase is _Phase.STARTING

    def expect_speech(self, seconds: float) -> None:
        """For the next `seconds` of audio, one window above the start threshold starts speech.

        The listening stage asks for it right after it judged a turn over: if the
        person goes on, the reply is cut on the first window of their voice.
        """
        self._eager_until = self._windows + math.ceil(seconds / WINDOW_S)

    @property
    def scored_s(self) -> float:
        """Seconds of audio in the windows decided so far."""
        return self._windows * WINDOW_S

    @property
    def position_s(self) -> float:
        """Seconds of audio fed so far."""
        return (self._windows * WINDOW + self._fill) / SAMPLE_RATE

    def feed(self, pcm16k: npt.NDArray[np.int16] | Float32Array) -> list[VADEvent]:
        """Score the whole windows `pcm16k` completes, alone and on this thread."""
        job = self._job(pcm16k)
        self._engine._process([job])
        return job.events

    def feed_async(self, pcm16k: npt.NDArray[np.int16] | Float32Array) -> Awaitable[list[VADEvent]]:
        """Score the whole windows `pcm16k` completes, batched with other streams.

        Hands back the engine's own coroutine rather than awaiting it in one of
        its own: the listening stage calls this for every 20 ms frame of every
        device, so it costs one method call more than the engine's, not a
        coroutine more.
        """
        return self._engine.feed_async(self, pcm16k)

    def _job(self, pcm: npt.NDArray[np.int16] | Float32Array) -> _Job:
        if self._busy:
            raise RuntimeError("a VADStream was fed again before its previous feed_async returned")
        if pcm.ndim != 1:
            raise ValueError(f"VADStream takes mono 1-D audio, got shape {pcm.shape}")
        buffer = self._buffer
        inputs: list[Float32Array | None] = []
        start, size = 0, pcm.size
        while start < size:
            take = min(WINDOW - self._fill, size - start)
            at = CONTEXT + self._fill
            # The buffer holds int16-scaled samples, so int16 audio (every device) is a plain copy:
            # the idle path makes no intermediate arrays. Scaling by powers of two is exact.
            if pcm.dtype == np.int16:
                buffer[at : at + take] = pcm[start : start + take]
            else:
                np.multiply(
                    pcm[start : start + take], _INT16_SCALE, out=buffer[at : at + take], casting="unsafe"
                )
            self._fill += take
            start += take
            if self._fill < WINDOW:
                break
            window = buffer[CONTEXT:]
            # A new array: it may wait for a batch while the buffer fills again.
            inputs.append(buffer * _FLOAT_SCALE if np.dot(window, window) >= self._floor else None)
            buffer[:CONTEXT] = buffer[WINDOW:]
            self._fill = 0
        return _Job(self, inputs)

    def _skip(self, events: list[VADEvent]) -> None:
        """A window under the energy floor: scores 0 and starts the model afresh."""
        self._rnn = None
        self._since_reset = 0
        self._low_run += 1
        self._step(0.0, events)

    def _accept(self, probability: float, rnn: Float32Array, events: list[VADEvent]) -> None:
        self._rnn = rnn
        self._since_reset += 1
        self._low_run = self._low_run + 1 if probability < _RESET_MAX_PROBABILITY else 0
        self._step(probability, events)
        if (
            self._phase is _Phase.QUIET
            and self._since_reset >= _RESET_INTERVAL_WINDOWS
            and self._low_run >= _RESET_LOW_WINDOWS
        ):
            self._rnn = None
            self._since_reset = 0

    def _step(self, probability: float, events: list[VADEvent]) -> None:
        """Advance the state machine by one window."""
        p = self._params
        index = self._windows
        self._windows += 1
        if self.probabilities is not None:
            self.probabilities.append(probability)
        match self._phase:
            case _Phase.QUIET:
                if probability >= p.start_threshold:
                    self._phase, self._edge, self._run = _Phase.STARTING, index, 0
                else:
                    return
            case _Phase.STARTING:
                if probability < p.stop_threshold:
                    self._phase = _Phase.QUIET
                    return
            case _Phase.SPEAKING:
                if probability >= p.stop_threshold:
                    return
                self._phase, self._edge, self._run = _Phase.PAUSED, index, 0
                events.append(self._event("pause_started", index, index))
            case _Phase.PAUSED:
                if probability >= p.start_threshold:
                    self._phase = _Phase.SPEAKING
                    events.append(self._event("speech_resumed", index, index))
                    return
        self._run += 1
        confirmed = self._run >= p.min_speech_windows or index < self._eager_until
        if self._phase is _Phase.STARTING and confirmed:
            self._phase = _Phase.SPEAKING
            events.append(self._event("speech_started", index, self._edge))
        elif self._phase is _Phase.PAUSED and self._run >= p.stop_silence_windows:
            self._phase = _Phase.QUIET
            events.append(self._event("speech_stopped", index, self._edge))

    @staticmethod
    def _event(kind: EventKind, index: int, edge: int) -> VADEvent:
        return VADEvent(kind=kind, at_s=(index + 1) * WINDOW_S, edge_s=edge * WINDOW_S)


@cache
def _silero_session(model_path: str | None) -> ort.InferenceSession:
    """The one session per process (per model file), shared by every engine and stream."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if model_path is None:
        model: str | bytes = (
            resources.files("pipecat.audio.vad.data").joinpath("silero_vad.onnx").read_bytes()
        )
    else:
        model = model_path
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


class SharedSileroVAD:
    """The process's Silero VAD: one model session, any number of `VADStream`s."""

    def __init__(
        self,
        *,
        params: VADParams | None = None,
        model_path: str | None = None,
        max_wait_s: float = 0.002,
        max_batch: int = 64,
        inline_max_windows: int = 16,
    ) -> None:
        self._params = params or VADParams()
        self._session = _silero_session(model_path)
        self._sr = np.array(SAMPLE_RATE, dtype=np.int64)
        self._max_wait_s = max_wait_s
        self._max_batch = max_batch
        self._inline_max_windows = inline_max_windows
        self._queue: list[_Job] = []
        self._queued_windows = 0
        self._flush_handle: asyncio.TimerHandle | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.model_calls = 0  # batched calls made, for tests and metrics

    def open_stream(self, *, params: VADParams | None = None, keep_probabilities: bool = False) -> VADStream:
        return VADStream(self, params or self._params, keep_probabilities=keep_probabilities)

    async def feed_async(
        self, stream: VADStream, pcm16k: npt.NDArray[np.int16] | Float32Array
    ) -> list[VADEvent]:
        """Score `stream`'s new windows together with those of other streams waiting now.

        If the feed completes no window the gate lets through, it is scored at
        once, without waiting or a model call. If the caller is cancelled while
        waiting, the windows are still scored (the stream stays consistent) but
        their events are lost.
        """
        job = stream._job(pcm16k)
        if not job.inputs:
            return job.events
        windows = job.model_windows
        if windows == 0:
            self._process([job])
            return job.events
        loop = asyncio.get_running_loop()
        job.future = loop.create_future()
        stream._busy = True
        self._queue.append(job)
        self._queued_windows += windows
        if len(self._queue) >= self._max_batch:
            self._flush()
        elif self._flush_handle is None:
            self._flush_handle = loop.call_later(self._max_wait_s, self._flush)
        return await job.future

    def close(self) -> None:
        """Stop the worker thread (the shared session stays loaded for the process)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _flush(self) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        jobs, self._queue = self._queue, []
        windows, self._queued_windows = self._queued_windows, 0
        if windows <= self._inline_max_windows:
            try:
                self._process(jobs)
            except Exception as error:
                self._finish(jobs, error)
            else:
                self._finish(jobs, None)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        done = asyncio.get_running_loop().run_in_executor(self._executor, self._process, jobs)
        done.add_done_callback(lambda f: self._finish(jobs, f.exception()))

    @staticmethod
    def _finish(jobs: Sequence[_Job], error: BaseException | None) -> None:
        for job in jobs:
            job.stream._busy = False
            if job.future is None or job.future.done():
                continue
            if error is None:
                job.future.set_result(job.events)
            else:
                job.future.set_exception(error)

    def _process(self, jobs: Sequence[_Job]) -> None:
        """Score every job's windows in order, one batched model call per round."""
        active = list(jobs)
        while active:
            batch: list[_Job] = []
            inputs: list[Float32Array] = []
            for job in active:
                window = self._next_model_input(job)
                if window is not None:
                    batch.append(job)
                    inputs.append(window)
            if not batch:
                return
            states = np.stack([self._state_of(job.stream) for job in batch], axis=1)
            probabilities, new_states = self._infer(np.stack(inputs), states)
            for i, job in enumerate(batch):
                job.stream._accept(float(probabilities[i]), new_states[:, i].copy(), job.events)
                job.next += 1
            active = batch

    @staticmethod
    def _next_model_input(job: _Job) -> Float32Array | None:
        """Pass the job's gated windows; return the model input of its next other window, if any."""
        while job.next < len(job.inputs):
            x = job.inputs[job.next]
            if x is not None:
                return x
            job.stream._skip(job.events)
            job.next += 1
        return None

    @staticmethod
    def _state_of(stream: VADStream) -> Float32Array:
        if stream._rnn is None:
            return np.zeros((2, 128), dtype=np.float32)
        return stream._rnn

    def _infer(self, inputs: Float32Array, states: Float32Array) -> tuple[Float32Array, Float32Array]:
        """One model call: inputs [B, 576], states [2, B, 128] -> probabilities [B], states."""
        output, state = self._session.run(None, {"input": inputs, "state": states, "sr": self._sr})
        self.model_calls += 1
        return np.asarray(output, dtype=np.float32)[:, 0], np.asarray(state, dtype=np.float32)
