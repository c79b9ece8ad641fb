"""End of turn from one shared Smart Turn v3 model.

`SharedSmartTurn` owns the process's one onnxruntime session of Smart Turn
v3.2 (`smart-turn-v3.2-cpu.onnx`, bundled in the pipecat wheel) and judges
whether the user's audio so far is a finished turn. It does exactly what
pipecat's `LocalSmartTurnAnalyzerV3` does to the audio: keep the last 8 s
(zero-padded in front when shorter), compute Whisper log-mel features with
pipecat's own numpy implementation, run the model, and call the turn complete
when the probability is above the threshold (0.5).

Every prediction runs in a small shared thread pool (one worker by default),
never on the event loop: one prediction is about 13 ms of features plus 50 ms
of model on an idle core of this 2-core box (80-180 ms while other work keeps
the cores busy), and concurrent turns queue in arrival order. The
model is wrong often enough (it judged plain read statements incomplete) that
the caller must keep a short silence fallback; this engine only answers the
question it is asked.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from typing import Protocol

import msgspec
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

# Private to pipecat, but it is the exact feature code the model ships with;
# pipecat is pinned below 2 in pyproject.toml.
from pipecat.audio.turn.smart_turn._whisper_features import compute_whisper_log_mel_features

SAMPLE_RATE = 16_000
MAX_SECONDS = 8
_MAX_SAMPLES = MAX_SECONDS * SAMPLE_RATE


class TurnPrediction(msgspec.Struct, frozen=True):
    """`inference_ms`: features and model, measured in the worker (time spent queued excluded)."""

    complete: bool
    probability: float
    inference_ms: float


class TurnModel(Protocol):
    """An end-of-turn model shared by every session."""

    async def predict(self, audio_16k: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> TurnPrediction:
        """Judge whether the user's turn in `audio_16k` (16 kHz mono, from speech onset) is over."""
        ...

    def close(self) -> None:
        """Release the engine's workers (at process shutdown)."""
        ...


@cache
def _smart_turn_session(model_path: str | None, threads: int) -> ort.InferenceSession:
    """The one session per process (per model file and thread count)."""
    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if model_path is None:
        package = resources.files("pipecat.audio.turn.smart_turn.data")
        model: str | bytes = package.joinpath("smart-turn-v3.2-cpu.onnx").read_bytes()
    else:
        model = model_path
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def _fit_to_model(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The last 8 s of `audio`, zero-padded at the start to exactly 8 s (as pipecat does)."""
    if audio.size >= _MAX_SAMPLES:
        return audio[-_MAX_SAMPLES:]
    return np.pad(audio, (_MAX_SAMPLES - audio.size, 0))


class SharedSmartTurn:
    """The process's Smart Turn model, shared by every session."""

    def __init__(
        self,
        *,
        threshold: float = 0.5,
        workers: int = 1,
        model_threads: int = 1,
        model_path: str | None = None,
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ValueError("threshold must be within [0, 1]")
        self._threshold = threshold
        self._session = _smart_turn_session(model_path, model_threads)
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smart-turn")

    @property
    def threshold(self) -> float:
        return self._threshold

    async def predict(self, audio_16k: npt.NDArray[np.float32] | npt.NDArray[np.int16]) -> TurnPrediction:
        """Judge whether the user's turn in `audio_16k` (16 kHz mono, ideally from speech onset) is over."""
        if audio_16k.ndim != 1 or audio_16k.size == 0:
            raise ValueError(f"predict takes non-empty mono 1-D audio, got shape {audio_16k.shape}")
        if audio_16k.dtype == np.int16:
            audio = np.multiply(audio_16k[-_MAX_SAMPLES:], 1.0 / 32768.0, dtype=np.float32)
        else:
            # A copy, so the caller may keep appending to its buffer meanwhile.
            audio = np.array(audio_16k[-_MAX_SAMPLES:], dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict, audio)

    async def warm_up(self) -> None:
        """Run one prediction on silence, so the first real turn does not pay for the first call."""
        await self.predict(np.zeros(SAMPLE_RATE, dtype=np.float32))

    def close(self) -> None:
        self._executor.shutdown(wait=False)

    def _predict(self, audio: npt.NDArray[np.float32]) -> TurnPrediction:
        started = time.perf_counter()
        features = compute_whisper_log_mel_features(_fit_to_model(audio), do_normalize=True)
        (logits,) = self._session.run(None, {"input_features": features[np.newaxis]})
        # The model's output named "logits" is already a sigmoid probability.
        probability = float(np.asarray(logits).reshape(-1)[0])
        return TurnPrediction(
            complete=probability > self._threshold,
            probability=probability,
            inference_ms=(time.perf_counter() - started) * 1000.0,
        )
