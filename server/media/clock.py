"""A device's clock, estimated NTP-style from its timestamped heartbeats (README, "Synchronised playback").

A heartbeat may carry `t0` (the device's clock when it sent it) and `t3` (the device's clock when the
`heartbeat_ack` of its previous heartbeat arrived). The ack answers with `t0` echoed, `t1` (the
server's clock when the heartbeat arrived) and `t2` (when the ack was sent). From one round trip:

    offset = ((t1 - t0) + (t2 - t3)) / 2    server clock minus device clock
    delay  = (t3 - t0) - (t2 - t1)          the round trip on the wire

All times are milliseconds since the Unix epoch, each on its own clock. Of the last `WINDOW`
samples the one with the smallest delay is kept: the least queueing, so the least asymmetry; the
offset's uncertainty is half its delay. A heartbeat without `t0` measures nothing.
"""

from __future__ import annotations

import time
from collections import deque

import msgspec

WINDOW = 8
"""Recent round trips the estimate picks from (the device's clock may drift: older ones go)."""


def server_ms() -> float:
    """The server's clock, in the heartbeat's units."""
    return time.time() * 1000.0


class ClockEstimate(msgspec.Struct, frozen=True):
    """A device's clock as the server last estimated it (kept with its presence, read by any instance)."""

    offset_ms: float
    """The device's clock minus the server's: server time + offset = the device's time."""
    delay_ms: float
    """The round trip of the sample the offset comes from; the offset is right within half of it."""

    @property
    def uncertainty_ms(self) -> float:
        return self.delay_ms / 2


class ClockSamples:
    """One connection's round trips; `heartbeat` is called for each heartbeat, in order."""

    def __init__(self) -> None:
        self._pending: tuple[float, float, float] | None = None
        """(t0, t1, t2) of the last ack sent, waiting for its t3."""
        self._samples: deque[ClockEstimate] = deque(maxlen=WINDOW)

    def received(self, t3: float | None) -> None:
        """A heartbeat arrived: its `t3` completes the previous round trip."""
        if t3 is not None and self._pending is not None:
            p0, p1, p2 = self._pending
            delay = (t3 - p0) - (p2 - p1)
            if delay >= 0:  # a negative round trip is a device that mixed up its stamps: not a sample
                self._samples.append(ClockEstimate(offset_ms=-((p1 - p0) + (p2 - t3)) / 2, delay_ms=delay))
        self._pending = None

    def sent(self, t0: float | None, t1: float, t2: float) -> None:
        """The ack of a heartbeat stamped `t0` went out at `t2`."""
        self._pending = (t0, t1, t2) if t0 is not None else None

    @property
    def best(self) -> ClockEstimate | None:
        """The sample of the recent window with the smallest delay; None before the first."""
        return min(self._samples, key=lambda s: s.delay_ms, default=None)
