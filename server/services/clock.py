"""Time, in one place: aware UTC datetimes for records, a monotonic clock for latencies."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start`, a `time.perf_counter()` reading."""
    return (time.perf_counter() - start) * 1000.0
