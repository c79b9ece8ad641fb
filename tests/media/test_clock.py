"""The NTP-style estimate from heartbeat stamps: offset and delay, the least-delayed of the window."""

from __future__ import annotations

import pytest

from server.media.clock import WINDOW, ClockEstimate, ClockSamples

OFFSET_MS = 3000.0
"""The device's clock runs this far ahead of the server's."""


def _round_trip(samples: ClockSamples, sent_at: float, out_ms: float, back_ms: float) -> None:
    """A heartbeat sent at server time `sent_at`, `out_ms` on the way there, answered at once,
    `back_ms` on the way back; then the next heartbeat brings its t3."""
    t0 = sent_at + OFFSET_MS
    t1 = sent_at + out_ms
    samples.received(None)
    samples.sent(t0, t1, t1 + 0.5)
    samples.received(t1 + 0.5 + back_ms + OFFSET_MS)


def test_a_symmetric_round_trip_gives_the_offset_and_its_delay() -> None:
    samples = ClockSamples()
    _round_trip(samples, 1000.0, 4.0, 4.0)
    assert samples.best == ClockEstimate(offset_ms=OFFSET_MS, delay_ms=8.0)


def test_the_least_delayed_round_trip_of_the_window_wins() -> None:
    samples = ClockSamples()
    _round_trip(samples, 1000.0, 30.0, 2.0)  # queued on the way there: offset off by 14 ms
    _round_trip(samples, 2000.0, 1.0, 1.0)
    _round_trip(samples, 3000.0, 2.0, 20.0)
    best = samples.best
    assert best is not None
    assert best.offset_ms == pytest.approx(OFFSET_MS)
    assert best.uncertainty_ms == pytest.approx(1.0)
    for n in range(WINDOW):  # the good one leaves the window: the best of the newer ones
        _round_trip(samples, 4000.0 + n * 1000, 5.0, 5.0)
    assert samples.best == ClockEstimate(offset_ms=OFFSET_MS, delay_ms=10.0)


def test_plain_heartbeats_and_mixed_up_stamps_measure_nothing() -> None:
    samples = ClockSamples()
    samples.received(12345.0)  # a t3 with no stamped heartbeat before it
    samples.sent(None, 1.0, 2.0)  # a plain heartbeat's ack
    samples.received(3.0)
    samples.sent(5000.0, 10.0, 11.0)
    samples.received(4000.0)  # t3 before t0: a negative round trip
    assert samples.best is None
