"""Garbage-collector stalls: how long each collection stops the server's event loop, with N idle devices.

A collection runs on the event loop's thread, so while it runs no device's
audio is read, no heartbeat answered: its duration is a stall every connected
device feels. One voice-enabled server starts (pinned to CPU 0, the client on
CPU 1, as `benchmarks.idle`) through `benchmarks.gc_stall.traced_server`,
which times every collection with `gc.callbacks`. Then N devices (default 300)
are registered and connect, 10 at a time, each streaming 20 ms frames of
digital silence in real time with a heartbeat every 2 s (the idle benchmark's
fleet), settle, and are measured for `--duration` seconds; then they leave.

The report gives, per phase (start-up until the devices connect, connecting,
the measured window, leaving) and generation, the number of collections and
their p50 / p99 / p99.9 / max duration in ms, plus the objects the collector
tracks at the end of the window. The target (issue 12): the worst stall in the
window under 20 ms.

    .venv/bin/python -m benchmarks.gc_stall --devices 300 --duration 60 --wait-quiet 120 \
        --json benchmarks/results/gc_stall.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from benchmarks.gc_stall.report import TARGET_MS, GcReport, markdown, phase
from benchmarks.gc_stall.traced_server import Trace
from benchmarks.idle.fleet import IdleFleet
from benchmarks.lib.cli import command_line, finish
from benchmarks.lib.cpu import choose_pinning
from benchmarks.lib.device import operator_client, register_device
from benchmarks.lib.machine import VOICE_PACKAGES, describe_machine
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT, running_server
from benchmarks.lib.stats import summarize
from benchmarks.lib.targets import (
    STARTUP_TIMEOUT_S,
    VOICE_SERVER_ENV,
    CpuWindow,
    add_quiet_argument,
    cpu_mark,
    cpu_since,
    wait_quiet,
)

CONNECT_AT_ONCE = 10
HEARTBEAT_EVERY_S = 2.0


@dataclass
class Marks:
    """`time.monotonic()` at the boundaries of the run's phases."""

    connecting: float = 0.0
    connected: float = 0.0
    window: float = 0.0
    window_end: float = 0.0
    left: float = 0.0
    stopped: float = 0.0
    heartbeats: list[float] = field(default_factory=list)
    heartbeats_sent: int = 0
    ticks: int = 0
    late_ticks: int = 0
    cpu: CpuWindow | None = None


async def drive(base_url: str, token: str, pid: int, args: argparse.Namespace) -> Marks:
    marks = Marks()
    fleet = IdleFleet(noise_dbfs=None, heartbeat_every_s=HEARTBEAT_EVERY_S)
    async with operator_client(base_url, token) as http:
        ids = [await register_device(http, f"gc-{n}") for n in range(args.devices)]
    fleet.start()
    marks.connecting = time.monotonic()
    progress = Progress(len(ids), f"connecting {args.devices}")
    for first in range(0, len(ids), CONNECT_AT_ONCE):
        batch = ids[first : first + CONNECT_AT_ONCE]
        await asyncio.gather(*(fleet.connect(base_url, d, t) for d, t in batch))
        for _ in batch:
            progress.advance()
    marks.connected = time.monotonic()
    await asyncio.sleep(args.settle)
    progress = Progress(round(args.duration), f"measuring {args.devices}")
    mark = cpu_mark(pid)
    marks.window = time.monotonic()
    fleet.begin_window()
    for _ in range(round(args.duration)):
        await asyncio.sleep(1.0)
        progress.advance()
    marks.window_end = time.monotonic()
    marks.cpu = cpu_since(mark, pid)
    window = await fleet.end_window()
    os.kill(pid, signal.SIGUSR1)  # the census, once the window is over
    await asyncio.sleep(1.0)
    if closed := fleet.closed():
        print(f"gc_stall: {len(closed)} sockets closed, e.g. {closed[0]}", file=sys.stderr)
    await fleet.close()
    marks.left = time.monotonic()
    await asyncio.sleep(args.settle)
    marks.heartbeats, marks.heartbeats_sent = window.rtts_ms, window.heartbeats_sent
    marks.ticks, marks.late_ticks = window.ticks, window.late_ticks
    return marks


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pinning = choose_pinning(enabled=not args.no_pin, server_cpu=0, load_cpu=1)
    if pinning.load:
        os.sched_setaffinity(0, {1})
    with tempfile.TemporaryDirectory(prefix="gc-stall-") as scratch:
        trace_path = Path(scratch) / "trace.json"
        with running_server(
            extra_env=VOICE_SERVER_ENV,
            cpu_prefix=pinning.server,
            startup_timeout_s=STARTUP_TIMEOUT_S,
            module_args=["-m", "benchmarks.gc_stall.traced_server", str(trace_path)],
        ) as server:
            waited_s = wait_quiet(args)
            try:
                marks = asyncio.run(drive(server.base_url, server.operator_token(), server.pid, args))
            except Exception:
                print(f"gc_stall: the server's log ends:\n{server.log_tail(40)}", file=sys.stderr)
                raise
        marks.stopped = time.monotonic()
        trace = msgspec.json.decode(trace_path.read_bytes(), type=Trace)
    report = _report(argv, args, pinning.description.replace("wrk", "client"), waited_s, marks, trace)
    return finish(args, report, markdown)


def _report(
    argv: Sequence[str] | None,
    args: argparse.Namespace,
    pinning: str,
    waited_s: float,
    marks: Marks,
    trace: Trace,
) -> GcReport:
    collections = trace.collections
    first = collections[0].at if collections else marks.connecting
    steady = phase("idle window", collections, marks.window, marks.window_end)
    worst = steady.stalls[-1].max
    assert marks.cpu is not None
    return GcReport(
        command=command_line("benchmarks.gc_stall", argv),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        pinning=pinning,
        devices=args.devices,
        settle_s=args.settle,
        duration_s=args.duration,
        waited_for_quiet_s=waited_s,
        cpu=marks.cpu,
        phases=[
            phase("start-up", collections, first, marks.connecting),
            phase("connecting", collections, marks.connecting, marks.connected),
            steady,
            phase("leaving", collections, marks.left, marks.stopped),
        ],
        census=trace.censuses[-1] if trace.censuses else None,
        heartbeat_rtt_ms=summarize(marks.heartbeats),
        heartbeats_sent=marks.heartbeats_sent,
        late_ticks=marks.late_ticks,
        ticks=marks.ticks,
        target_met=worst is None or worst < TARGET_MS,
        collections=collections,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gc_stall",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--devices", type=int, default=300, help="idle devices connected (default 300)")
    parser.add_argument("--duration", type=float, default=60.0, help="measured seconds (default 60)")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds before the window (default 10)")
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server to CPU 0, the client to 1"
    )
    add_quiet_argument(parser)
    parser.add_argument("--json", type=Path, help="write the report (and every collection) as JSON here")
    return parser
