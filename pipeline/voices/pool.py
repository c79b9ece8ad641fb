"""The thread pool every in-process voice runs its inference in, earliest deadline first.

One bounded pool per process, so N sessions speaking at once cannot start more
inference threads than there are workers. A voice submits one job per
sentence, each with a deadline: when its audio must start playing. A free
worker takes the waiting job with the earliest deadline (ties in submission
order), so

- a reply's first clause, which someone is waiting for in silence, is due now
  and goes before any clause that follows audio still playing;
- a later clause is due when the audio before it will have played (the
  speaker's `SpeechClock`), and waits while more urgent work is queued;
- two long replies still interleave sentence by sentence.

Jobs do not pre-empt each other: a job that has started runs to its end.
Cancelling a job's future before it starts drops it (a barge-in closes the
voice's stream, which cancels what it had queued).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")


def default_workers() -> int:
    """One worker per core, at most two: each ONNX session runs single-threaded."""
    return max(1, min(2, os.cpu_count() or 1))


@dataclass(order=True)
class _Job:
    deadline: float
    order: int
    run: Callable[[], Any] = field(compare=False)
    future: Future[Any] = field(compare=False)


class InferencePool:
    def __init__(self, *, workers: int | None = None, thread_name_prefix: str = "voice") -> None:
        self.workers = workers or default_workers()
        self.dropped = 0
        """Jobs cancelled while they waited, dropped without running."""
        self._jobs: list[_Job] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{thread_name_prefix}_{index}", daemon=True)
            for index in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def waiting(self) -> int:
        """Jobs queued and not started (nor cancelled)."""
        with self._ready:
            return sum(not job.future.cancelled() for job in self._jobs)

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> asyncio.Future[_T]:
        """Queue `fn(*args, **kwargs)`, due now; cancelling the future drops it if it has not started."""
        return self.submit_by(time.perf_counter(), fn, *args, **kwargs)

    def submit_by(
        self, deadline: float, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs
    ) -> asyncio.Future[_T]:
        """Queue `fn(*args, **kwargs)`, due at `deadline` (`time.perf_counter()` seconds)."""
        future: Future[_T] = Future()
        job = _Job(deadline, next(self._order), lambda: fn(*args, **kwargs), future)
        with self._ready:
            if self._closed:
                raise RuntimeError("the inference pool is closed")
            heapq.heappush(self._jobs, job)
            self._ready.notify()
        return asyncio.wrap_future(future, loop=asyncio.get_running_loop())

    def close(self) -> None:
        """Drop queued jobs; running ones finish in their threads."""
        with self._ready:
            self._closed = True
            for job in self._jobs:
                job.future.cancel()
            self._jobs.clear()
            self._ready.notify_all()

    def _work(self) -> None:
        while (job := self._take()) is not None:
            try:
                result = job.run()
            except BaseException as error:  # handed to the caller, as an executor does
                job.future.set_exception(error)
            else:
                job.future.set_result(result)
            del job  # its arguments (audio, phonemes) are not kept while the worker waits

    def _take(self) -> _Job | None:
        """The most urgent job not cancelled, marked running (blocks while none waits); None once closed."""
        with self._ready:
            while True:
                while not self._jobs and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return None
                job = heapq.heappop(self._jobs)
                if job.future.set_running_or_notify_cancel():
                    return job
                self.dropped += 1


@dataclass
class SpeechClock:
    """When the audio one speaker has been given will have played, as far as its voice can tell.

    A voice advances it by each chunk it yields, assuming playback starts as
    soon as a chunk is handed over; the paced output may start later (a held
    speculative turn), so the estimate errs early, towards urgency.
    """

    play_end: float = 0.0

    def deadline(self) -> float:
        """When the next clause must start: now, or when the audio before it ends."""
        return max(time.perf_counter(), self.play_end)

    def played(self, seconds: float) -> float:
        """Add `seconds` of audio handed over now; returns the new end of playback."""
        self.play_end = self.deadline() + seconds
        return self.play_end

    def cut(self) -> None:
        """The speaker stopped (barge-in): nothing of it is playing any more."""
        self.play_end = 0.0


_clocks: weakref.WeakKeyDictionary[asyncio.Task[Any], SpeechClock] = weakref.WeakKeyDictionary()


def speech_clock() -> SpeechClock:
    """The clock of the current task: one speaker says its clauses one after another in one task.

    A pipeline stage speaks in its own task, which pipecat replaces on an
    interruption, so a barge-in also starts a fresh clock. Outside a task each
    call gets a fresh clock.
    """
    task = asyncio.current_task()
    if task is None:
        return SpeechClock()
    clock = _clocks.get(task)
    if clock is None:
        clock = _clocks[task] = SpeechClock()
    return clock
