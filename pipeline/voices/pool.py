"""The thread pool every in-process voice runs its inference in, earliest deadline first.

One bounded pool per process, so N sessions speaking at once cannot start more
inference threads than it has workers. A voice submits one job per sentence,
each with a deadline: when its audio must start playing.

- A job is urgent from `horizon_s` before its deadline. A reply's first clause,
  which someone is waiting for in silence, is due now: urgent at once. A later
  clause is due when the audio before it will have played (the speaker's
  `SpeechClock`), seconds ahead.
- The `workers` run urgent jobs only, earliest deadline first (ties in
  submission order): they never start a sentence not needed yet, so they are
  free when the next first clause arrives, and two long replies still
  interleave sentence by sentence.
- The background worker renders jobs not urgent yet, earliest first, at a
  lower OS priority (`background_nice`, on Linux): it takes only CPU that
  recognition, end-of-turn and first clauses leave over, instead of
  competing with them when turns end together.
- A job the background worker has not finished when it becomes urgent (the
  cores were busy) is run again by a worker; the first result wins.

Jobs do not pre-empt each other: a job that has started runs to its end.
Cancelling a job's future before it starts drops it (a barge-in closes the
voice's stream, which cancels what it had queued).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
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
    abandoned: bool = field(default=False, compare=False)
    """The caller stopped waiting (its asyncio future was cancelled) after the job started."""

    def finish(self) -> None:
        """Run the job and settle its future, unless a second run of it settled it first."""
        try:
            result = self.run()
        except BaseException as error:  # handed to the caller, as an executor does
            with contextlib.suppress(InvalidStateError):
                self.future.set_exception(error)
        else:
            with contextlib.suppress(InvalidStateError):
                self.future.set_result(result)

    def abandon(self, waited: asyncio.Future[Any]) -> None:
        if waited.cancelled():
            self.abandoned = True


class InferencePool:
    def __init__(
        self,
        *,
        workers: int | None = None,
        background_workers: int = 1,
        horizon_s: float = 1.0,
        background_nice: int = 10,
        thread_name_prefix: str = "voice",
    ) -> None:
        """`workers` run urgent jobs at normal priority, `background_workers` the rest at `background_nice`.

        `horizon_s=math.inf` makes every job urgent at once: plain earliest
        deadline first on the workers, the background ones idle.
        """
        if horizon_s < 0 or background_workers < 0:
            raise ValueError("horizon_s and background_workers must not be negative")
        self.workers = workers or default_workers()
        self.background_workers = background_workers
        self.horizon_s = horizon_s
        self.dropped = 0
        """Jobs cancelled while they waited, dropped without running."""
        self.rerun = 0
        """Jobs the background worker had not finished when they became urgent, run again by a worker."""
        self._jobs: list[_Job] = []
        self._behind: list[_Job] = []
        """Jobs running in the background, not finished."""
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{thread_name_prefix}_{index}", daemon=True)
            for index in range(self.workers)
        ] + [
            threading.Thread(
                target=self._work_behind,
                args=(background_nice,),
                name=f"{thread_name_prefix}_bg{index}",
                daemon=True,
            )
            for index in range(background_workers)
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
            self._ready.notify_all()
        waited = asyncio.wrap_future(future, loop=asyncio.get_running_loop())
        waited.add_done_callback(job.abandon)
        return waited

    def close(self) -> None:
        """Drop queued jobs; running ones finish in their threads."""
        with self._ready:
            self._closed = True
            for job in self._jobs:
                job.future.cancel()
            self._jobs.clear()
            self._ready.notify_all()

    def _work(self) -> None:
        while (job := self._take_urgent()) is not None:
            job.finish()
            del job  # its arguments (phonemes) are not kept while the worker waits

    def _work_behind(self, nice: int) -> None:
        if sys.platform == "linux" and nice > 0:
            # Linux gives each thread its own nice value; raising it needs no privilege.
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        while (job := self._take_early()) is not None:
            job.finish()
            with self._ready:
                if job in self._behind:  # not taken over
                    self._behind.remove(job)
            del job

    def _take_urgent(self) -> _Job | None:
        """The most urgent job (blocks until one is urgent), marked running; None once closed."""
        with self._ready:
            while not self._closed:
                now = time.perf_counter()
                late = self._late_behind(now)
                if late is not None:
                    self.rerun += 1
                    return late
                self._drop_cancelled_head()
                if not self._jobs:
                    self._ready.wait(self._next_behind_urgent(now))
                    continue
                head = self._jobs[0]
                early = head.deadline - self.horizon_s - now
                if early > 0:
                    behind = self._next_behind_urgent(now)
                    self._ready.wait(early if behind is None else min(early, behind))
                    continue
                heapq.heappop(self._jobs)
                if head.future.set_running_or_notify_cancel():
                    return head
                self.dropped += 1
            return None

    def _take_early(self) -> _Job | None:
        """The earliest job not urgent yet (blocks while there is none), marked running; None once closed."""
        with self._ready:
            while not self._closed:
                cutoff = time.perf_counter() + self.horizon_s
                early = [job for job in self._jobs if job.deadline > cutoff and not job.future.cancelled()]
                if not early:
                    self._ready.wait()
                    continue
                job = min(early)
                self._jobs.remove(job)
                heapq.heapify(self._jobs)
                if job.future.set_running_or_notify_cancel():
                    self._behind.append(job)
                    self._ready.notify_all()  # the workers watch it from now on
                    return job
                self.dropped += 1
            return None

    def _late_behind(self, now: float) -> _Job | None:
        """A background job that is urgent now and still unfinished, taken over (once)."""
        for job in self._behind:
            if job.deadline - self.horizon_s <= now and not job.future.done() and not job.abandoned:
                self._behind.remove(job)
                return job
        return None

    def _next_behind_urgent(self, now: float) -> float | None:
        """Seconds until the next background job a worker would take over becomes urgent, if any."""
        waits = [
            job.deadline - self.horizon_s - now
            for job in self._behind
            if not job.future.done() and not job.abandoned
        ]
        # One urgent already is taken over or finished (see _late_behind): only later ones count.
        later = [wait for wait in waits if wait > 0]
        return min(later) if later else None

    def _drop_cancelled_head(self) -> None:
        while self._jobs and self._jobs[0].future.cancelled():
            heapq.heappop(self._jobs)
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
