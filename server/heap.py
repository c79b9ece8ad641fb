"""The garbage collector, set for a long-running server that holds many light device sessions.

CPython's collector runs on the thread that allocates: the event loop's. A full
(generation 2) collection walks every tracked object that is not frozen, and
while it runs no device's audio is read and no heartbeat answered. With 300
idle devices and CPython's defaults, full collections came every 2-4 s, each
walking ~430,000 objects and freeing next to nothing: 20 ms frames, their
futures and queue entries live a little longer than the young generation's
collection interval (700 allocations: ~20 ms at 300 devices), so they were
promoted, counted as long-lived, and died by reference counting soon after,
which is what triggers a full collection. So, once start-up is over
(`settle_after_start_up`, which `serve` calls at the end of the app's start-up):

- everything alive then, the imported libraries, the loaded models, the
  persona voices and library, the services, is collected once and frozen
  (`gc.freeze()`): it lives as long as the process and is never walked again;
- the young generation's threshold is raised to `YOUNG_THRESHOLD`, so young
  collections come ~14 times less often and an object must live that much
  longer to be promoted: a frame's short-lived objects die young again.
  Garbage cycles wait a little longer to be freed (a few MB at most).
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_THRESHOLD = 10_000
"""Allocations (less deallocations) of tracked objects between two young collections (CPython: 700).
A young collection walks about this many objects, a middle one at most ~10 times as many (what the
last ten young ones kept, e.g. new sessions' objects while many devices connect): 50,000 was tried,
and such a middle collection then walked ~150,000 objects just after 300 devices connected."""


def settle_after_start_up() -> None:
    """Collect, freeze what start-up left alive, and set the thresholds (see the module's docstring)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
    log.info("heap settled: %d objects frozen, gc thresholds %s", gc.get_freeze_count(), gc.get_threshold())
