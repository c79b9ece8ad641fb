"""The thread pool every in-process voice runs its inference in.

One bounded pool per process, so N sessions speaking at once cannot start more
inference threads than there are workers. Jobs start in the order they were
submitted (the executor's queue is FIFO), and a voice submits one job per
sentence, so two long replies interleave sentence by sentence instead of the
first one holding a worker until it is done.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")


def default_workers() -> int:
    """One worker per core, at most two: each ONNX session runs single-threaded."""
    return max(1, min(2, os.cpu_count() or 1))


class InferencePool:
    def __init__(self, *, workers: int | None = None, thread_name_prefix: str = "voice") -> None:
        self.workers = workers or default_workers()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix=thread_name_prefix)

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> asyncio.Future[_T]:
        """Queue `fn(*args, **kwargs)`; cancelling the returned future drops it if it has not started."""
        return asyncio.wrap_future(
            self._executor.submit(fn, *args, **kwargs), loop=asyncio.get_running_loop()
        )

    def close(self) -> None:
        """Drop queued jobs; running ones finish in their threads."""
        self._executor.shutdown(wait=False, cancel_futures=True)
