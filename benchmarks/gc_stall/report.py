"""The GC stall report: collections per phase and generation, their durations, and the census."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
import numpy as np

from benchmarks.gc_stall.traced_server import Census, Collection
from benchmarks.lib.machine import Machine
from benchmarks.lib.report import cpu_line, header_line, key_value_table, table, title_lines
from benchmarks.lib.stats import Summary
from benchmarks.lib.targets import CpuWindow

TARGET_MS = 20.0
"""Issue 12: the worst stall with 300 idle devices connected stays under this."""


class Stalls(msgspec.Struct, frozen=True, kw_only=True):
    """The collections of one generation (None: all of them) in one phase; durations in ms."""

    generation: int | None
    n: int
    per_s: float
    p50: float | None
    p99: float | None
    p999: float | None
    max: float | None
    total_ms: float


class Phase(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    seconds: float
    stalls: list[Stalls]
    """Generations 0, 1, 2, then all together."""


class GcReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    pinning: str
    devices: int
    settle_s: float
    duration_s: float
    waited_for_quiet_s: float
    cpu: CpuWindow
    """Over the measured window (the devices connected and idle)."""
    phases: list[Phase]
    census: Census | None
    """Taken at the end of the measured window."""
    heartbeat_rtt_ms: Summary | None
    heartbeats_sent: int
    late_ticks: int
    ticks: int
    target_ms: float = TARGET_MS
    target_met: bool = False
    collections: list[Collection] = msgspec.field(default_factory=list)
    """Every collection of the run, for a later look."""


def phase(name: str, collections: Sequence[Collection], start: float, end: float) -> Phase:
    """The collections that started in [start, end)."""
    inside = [c for c in collections if start <= c.at < end]
    seconds = max(end - start, 1e-9)
    stalls = [_stalls(g, [c.ms for c in inside if c.generation == g], seconds) for g in range(3)]
    return Phase(
        name=name,
        seconds=round(seconds, 1),
        stalls=[*stalls, _stalls(None, [c.ms for c in inside], seconds)],
    )


def _stalls(generation: int | None, durations: list[float], seconds: float) -> Stalls:
    if not durations:
        return Stalls(
            generation=generation, n=0, per_s=0.0, p50=None, p99=None, p999=None, max=None, total_ms=0
        )
    p50, p99, p999 = (round(float(p), 2) for p in np.percentile(durations, [50, 99, 99.9]))
    return Stalls(
        generation=generation,
        n=len(durations),
        per_s=round(len(durations) / seconds, 1),
        p50=p50,
        p99=p99,
        p999=p999,
        max=round(max(durations), 2),
        total_ms=round(sum(durations), 1),
    )


def markdown(report: GcReport) -> str:
    r = report
    lines = title_lines(
        f"GC stalls with {r.devices} idle devices",
        r.command,
        header_line(r.machine, r.generated_at, f"started by the benchmark ({r.pinning})"),
    )
    rows = []
    for p in r.phases:
        for s in p.stalls:
            gen = "all" if s.generation is None else str(s.generation)
            rows.append([p.name, f"{p.seconds:g}", gen, s.n, f"{s.per_s:g}", *_ms(s), f"{s.total_ms:g}"])
    header = ["phase", "s", "generation", "collections", "per s", "p50 ms", "p99 ms", "p99.9 ms", "max ms"]
    lines += table([*header, "total ms"], rows, align=["---", "---:", "---", *["---:"] * 7])
    lines += ["", *_facts(r), "", cpu_line(r.cpu)]
    return "\n".join(lines)


def _ms(s: Stalls) -> list[str]:
    return ["-" if v is None else f"{v:g}" for v in (s.p50, s.p99, s.p999, s.max)]


def _facts(r: GcReport) -> list[str]:
    hb = r.heartbeat_rtt_ms
    pairs: list[tuple[str, object]] = [
        ("devices connected, streaming digital silence", r.devices),
        ("settle before the window / window", f"{r.settle_s:g} s / {r.duration_s:g} s"),
        ("waited for a quiet machine", f"{r.waited_for_quiet_s:g} s"),
        (
            "heartbeat RTT in the window p50 / p99 / max ms",
            "-" if hb is None else f"{hb.p50:g} / {hb.p99:g} / {hb.max:g} ({hb.n}/{r.heartbeats_sent})",
        ),
        ("client ticks late (> 20 ms)", f"{r.late_ticks}/{r.ticks}"),
        (f"worst stall in the window < {r.target_ms:g} ms", "yes" if r.target_met else "no"),
    ]
    if r.census is not None:
        c = r.census
        pairs += [
            ("objects tracked at the window's end, gen 0 / 1 / 2", " / ".join(f"{n:,}" for n in c.tracked)),
            ("objects frozen (never walked)", f"{c.frozen:,}"),
            ("gc thresholds", " / ".join(str(t) for t in c.thresholds)),
        ]
    return key_value_table(pairs)
