"""Percentile summaries for latency samples: median first, never the mean alone."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np


class Summary(msgspec.Struct, frozen=True, kw_only=True):
    """Milliseconds (or whatever unit the samples had). Percentiles interpolate linearly between
    samples, so with fewer than 100 samples p99 lies between the two largest."""

    n: int
    p50: float
    p90: float
    p99: float
    min: float
    max: float
    mean: float


def summarize(values: Sequence[float]) -> Summary | None:
    """The summary of `values`, or None when there are none."""
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    return Summary(
        n=len(data),
        p50=_round(p50),
        p90=_round(p90),
        p99=_round(p99),
        min=_round(data.min()),
        max=_round(data.max()),
        mean=_round(data.mean()),
    )


def _round(value: float) -> float:
    return round(float(value), 1)


class Tail(msgspec.Struct, frozen=True, kw_only=True):
    """A summary with p95, for figures judged by their p95 (e.g. conversations within 1.5 s)."""

    n: int
    p50: float
    p90: float
    p95: float
    p99: float
    min: float
    max: float


def tail(values: Sequence[float]) -> Tail | None:
    """The p50/p90/p95/p99 summary of `values` (linear interpolation), or None when there are none."""
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    p50, p90, p95, p99 = (_round(p) for p in np.percentile(data, [50, 90, 95, 99]))
    return Tail(
        n=len(data), p50=p50, p90=p90, p95=p95, p99=p99, min=_round(data.min()), max=_round(data.max())
    )
