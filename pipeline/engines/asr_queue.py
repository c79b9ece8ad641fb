"""The shared recogniser's queue: the most urgent turn first, turns of one shape in one batch.

Every session's transcriptions wait here for the recogniser's worker
thread(s). When a worker is free it takes

- the most urgent job: a turn the user is waiting for (committed, or with no
  turn state at all) before any speculative one, and among equals the one
  whose speech ended first (earliest deadline first); a speculative turn
  committed while it waits moves up at once, since its state is read when the
  worker chooses, not when it was queued;
- and with it every other waiting job of the same `key` (the same padded
  audio window), most urgent first, up to `max_batch`: one model call for all.

Fair share. A job may name its `owner` (a device sending whole recordings,
e.g. the REST dialog's audio) and its `cost` (seconds of audio). Every job
taken charges its owner its cost; the charge decays by half every
`share_half_life_s`. Among jobs of equal urgency, the owner who has used the
recogniser least lately goes first (jobs without an owner, a live device's
turns, count as unused), and only then the earliest deadline. So one device
queueing recording after recording waits behind everyone else's turns instead
of holding the recogniser: a job is never interrupted once it runs, so what
one owner can hold it for at once is the cost of one job (its callers keep
jobs short, e.g. a long recording sent as pieces).

A job whose future was cancelled while it waited (its session went on: the
user spoke again, so the speculation is stale) is dropped and never runs;
`dropped` counts them. A cancel that comes after its batch started changes
nothing but the caller's wait.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

_In = TypeVar("_In")
_Out = TypeVar("_Out")


class TurnState(Protocol):
    """What the queue reads of the turn a job is for (the graph's `TurnTimeline` is one)."""

    @property
    def committed(self) -> bool:
        """True once the turn is judged over: the user is waiting for the answer."""
        ...

    @property
    def speech_end(self) -> float | None:
        """When the user's speech ended (`time.perf_counter()` seconds), if known."""
        ...


DEFAULT_SHARE_HALF_LIFE_S = 30.0
_FORGOTTEN = 1e-3


@dataclass(eq=False)
class Job(Generic[_In, _Out]):
    """One transcription waiting its turn; `key` None runs alone."""

    payload: _In
    key: Hashable | None
    turn: TurnState | None = None
    owner: Hashable | None = None
    """Who the recogniser's time is charged to (fair share); None: nobody (a live turn)."""
    cost: float = 0.0
    """What running it charges its owner: seconds of audio."""
    submitted: float = field(default_factory=time.perf_counter)
    future: Future[_Out] = field(default_factory=Future)

    def urgency(self) -> tuple[int, float]:
        """(0 if someone waits for it, else 1; its deadline)."""
        if self.turn is None:
            return (0, self.submitted)
        deadline = self.turn.speech_end if self.turn.speech_end is not None else self.submitted
        return (0 if self.turn.committed else 1, deadline)


class _Shares:
    """What each owner used of the recogniser lately: charged cost, halved every `half_life_s`."""

    def __init__(self, half_life_s: float) -> None:
        if half_life_s <= 0:
            raise ValueError("share_half_life_s must be positive")
        self._rate = math.log(2) / half_life_s
        self._used: dict[Hashable, tuple[float, float]] = {}

    def used(self, owner: Hashable | None, now: float) -> float:
        if owner is None or owner not in self._used:
            return 0.0
        amount, at = self._used[owner]
        return amount * math.exp(-self._rate * (now - at))

    def charge(self, owner: Hashable | None, cost: float, now: float) -> None:
        if owner is None:
            return
        self._used[owner] = (self.used(owner, now) + cost, now)
        # Forget owners whose use has decayed to nothing, so the table stays as small as the active set.
        self._used = {o: v for o, v in self._used.items() if self.used(o, now) > _FORGOTTEN}


class BatchQueue(Generic[_In, _Out]):
    """Jobs in rank order, taken in batches of one key; see the module docstring."""

    def __init__(self, *, max_batch: int, share_half_life_s: float = DEFAULT_SHARE_HALF_LIFE_S) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.max_batch = max_batch
        self._shares = _Shares(share_half_life_s)
        self.dropped = 0
        """Jobs cancelled while they waited, dropped without running."""
        self.batches = 0
        """Batches handed to a worker."""
        self._jobs: list[Job[_In, _Out]] = []
        self._ready = threading.Condition()
        self._closed = False

    def put(self, job: Job[_In, _Out]) -> None:
        with self._ready:
            if self._closed:
                raise RuntimeError("the queue is closed")
            self._jobs.append(job)
            self._ready.notify()

    def take(self) -> list[Job[_In, _Out]] | None:
        """The next batch (blocks while there is none), each job marked running; None once closed."""
        while True:
            with self._ready:
                while not self._drop_cancelled() and not self._closed:
                    self._ready.wait()
                if self._closed:
                    return None
                batch = self._next_batch()
            # A job cancelled between the two steps is dropped here: its future refuses to run.
            running = [job for job in batch if job.future.set_running_or_notify_cancel()]
            with self._ready:
                self.dropped += len(batch) - len(running)
                self.batches += 1 if running else 0
            if running:
                return running

    def close(self) -> None:
        """Cancel every waiting job and release the workers."""
        with self._ready:
            self._closed = True
            for job in self._jobs:
                job.future.cancel()
            self._jobs.clear()
            self._ready.notify_all()

    def _drop_cancelled(self) -> bool:
        """Forget cancelled jobs; True if any job is left. Called holding the lock."""
        waiting = [job for job in self._jobs if not job.future.cancelled()]
        self.dropped += len(self._jobs) - len(waiting)
        self._jobs = waiting
        return bool(waiting)

    def used(self, owner: Hashable) -> float:
        """The recogniser time (cost) `owner` used lately, decayed: what the queue ranks it by."""
        with self._ready:
            return self._shares.used(owner, time.perf_counter())

    def _rank(self, job: Job[_In, _Out], now: float) -> tuple[int, float, float]:
        """Smaller runs first: (urgency, what the job's owner used lately, its deadline)."""
        waits, deadline = job.urgency()
        return (waits, self._shares.used(job.owner, now), deadline)

    def _next_batch(self) -> list[Job[_In, _Out]]:
        now = time.perf_counter()
        ordered = sorted(self._jobs, key=lambda job: self._rank(job, now))
        head = ordered[0]
        if head.key is None:
            batch = [head]
        else:
            batch = [job for job in ordered if job.key == head.key][: self.max_batch]
        chosen = set(map(id, batch))
        self._jobs = [job for job in self._jobs if id(job) not in chosen]
        for job in batch:
            self._shares.charge(job.owner, job.cost, now)
        return batch
