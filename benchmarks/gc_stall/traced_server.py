"""`python -m benchmarks.gc_stall.traced_server TRACE.json`: `companion-voice serve`, every collection timed.

The server is the one `serve` runs, plus a `gc.callbacks` hook that notes each
collection: its generation, when it started (`time.monotonic()`: CLOCK_MONOTONIC,
the same clock in every process on the machine, so the benchmark can tell which
of its phases a collection fell in), how long it took and what it freed. A
collection stops the event loop, so its duration is a stall of every device's
audio. On SIGUSR1 the hook also takes a census: the objects the collector
tracks in each generation and in the frozen (permanent) one, and the
thresholds. When the server exits, the trace is written to TRACE.json.
"""

from __future__ import annotations

import gc
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import msgspec

from server.cli import main as server_main


class Collection(msgspec.Struct, array_like=True, frozen=True):
    at: float
    """`time.monotonic()` when it started."""
    generation: int
    ms: float
    collected: int


class Census(msgspec.Struct, frozen=True, kw_only=True):
    at: float
    tracked: list[int]
    """Objects the collector tracks, per generation (0, 1, 2)."""
    frozen: int
    """Objects in the permanent generation (`gc.freeze()`), never walked."""
    thresholds: list[int]


class Trace(msgspec.Struct, kw_only=True):
    collections: list[Collection]
    censuses: list[Census]


class GcRecorder:
    def __init__(self) -> None:
        self.trace = Trace(collections=[], censuses=[])
        self._started = 0.0

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.monotonic()
            return
        took_ms = (time.monotonic() - self._started) * 1000
        self.trace.collections.append(
            Collection(self._started, info["generation"], round(took_ms, 3), info["collected"])
        )

    def census(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self.trace.censuses.append(
            Census(
                at=time.monotonic(),
                tracked=[len(gc.get_objects(generation)) for generation in range(3)],
                frozen=gc.get_freeze_count(),
                thresholds=list(gc.get_threshold()),
            )
        )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchmarks.gc_stall.traced_server TRACE.json", file=sys.stderr)
        return 2
    recorder = GcRecorder()
    gc.callbacks.append(recorder.on_gc)
    signal.signal(signal.SIGUSR1, recorder.census)
    try:
        return server_main(["serve"])
    finally:
        Path(argv[0]).write_bytes(msgspec.json.encode(recorder.trace))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
