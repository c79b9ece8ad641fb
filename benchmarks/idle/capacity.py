"""Device capacity: server CPU and memory with 1, 50, 300 … connected devices streaming in real time.

One voice-enabled server process starts (by default pinned to CPU 0 with
taskset, the client on CPU 1, so the two do not share a core and the server's
CPU% is its own). All devices are registered first; then, step by step, more
connect until the step's count is reached, all of them streaming 20 ms binary
PCM16 frames of digital silence (or, with `--noise`, white noise at about
-50 dBFS, so nothing can skip all-zero audio) from one client process. After
`--settle` seconds each step is measured for `--duration` seconds:

- server CPU, percent of one core, from /proc/PID/stat over the window;
- server RSS (/proc/PID/status VmRSS) at the end of the window, and per device
  `(RSS at N - RSS at 0) / N`, RSS at 0 measured before any device connected;
- whether the server keeps up: every heartbeat (one per device every
  `--heartbeat-every` s, answered behind that device's audio on the same
  socket) answered within `--rtt-limit` ms, and no socket closed.

The client's own lateness is reported: if it fell behind, the step says so.

With `--speech`, every device talks instead: it says the audio fixtures in a
loop (first utterances staggered over a few seconds; each next one once the
reply to the last has played, after `--speech-gap` s of silence), so the
server runs VAD, end of turn, ASR, a reply and its voice for each device.
Keeping up then also needs every utterance of the window answered with reply
audio within `--reply-timeout` s; the reply times are reported. The default
steps become 1,2,4,8,16.

With `--target pipecat` the server is the stock pipecat reference bot
(`benchmarks.reference`), whose every connection builds its own pipeline and
loads its own models (about 160 MB each). Devices connect one at a time
and stream silence in pipecat's protobuf frames; pipecat has no heartbeat, so
a step keeps up when every connection opened (RTVI `bot-ready`) within its
timeout, no socket closed, and the probe, one of the devices, says a fixture
after the window (`--files`, default hello_how_are_you) and gets reply audio
within `--reply-timeout` s (`benchmarks.idle.pipecat`). The default steps
become 1,5,10,20,40. `--compare idle.json` adds the ratios to this server's run.

With `--until-fails` the run stops after the first step that does not keep up
and exits 0: the answer is the largest step kept up with. The ladder never goes
to a step whose projected RSS (RSS with no device + the largest RSS per device
so far x devices) exceeds `--max-rss-gib`; the report says so.

    .venv/bin/python -m benchmarks.idle                      # 0, 1, 50, 300 devices, 20 s each
    .venv/bin/python -m benchmarks.idle --steps 1,50,300,500 --noise --json idle.json
    .venv/bin/python -m benchmarks.idle --speech --until-fails --json idle-speech.json
    .venv/bin/python -m benchmarks.idle --target pipecat --until-fails --compare idle.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import shlex
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from websockets.exceptions import WebSocketException

from audio_fixtures import FIXTURES_DIR
from benchmarks.idle.fleet import IdleFleet
from benchmarks.idle.report import (
    IdleReport,
    Probe,
    Step,
    capacity_comparison,
    capacity_of,
    markdown,
    projected_rss_refusal,
    step_of,
)
from benchmarks.idle.speech_loop import STAGGER_S, spoken
from benchmarks.lib.clips import load_clips
from benchmarks.lib.cpu import Pinning, choose_pinning
from benchmarks.lib.device import DeviceError, operator_client, register_device
from benchmarks.lib.machine import VOICE_PACKAGES, describe_machine
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT
from benchmarks.lib.targets import (
    TARGET_KINDS,
    Target,
    add_quiet_argument,
    cpu_mark,
    cpu_since,
    started_target,
    wait_quiet,
)

if TYPE_CHECKING:
    from benchmarks.idle.pipecat import ProbeDevice

CONNECT_AT_ONCE = 10
"""Devices connecting at the same time while a step fills up."""
PIPECAT_CONNECT_AT_ONCE = 1
"""Stock pipecat builds a connection's services (loading its models) on its event loop as the
connection opens, so connections opened together only queue behind each other."""
CONNECT_ERRORS = (DeviceError, OSError, WebSocketException)
"""A connection that could not be opened (`OSError` includes the open timeout's `TimeoutError`)."""
NOISE_DBFS = -50.0
SILENCE_STEPS = [0, 1, 50, 300]
SPEECH_STEPS = [1, 2, 4, 8, 16]
PIPECAT_STEPS = [1, 5, 10, 20, 40]
PROBE_CLIP = FIXTURES_DIR / "hello_how_are_you.wav"
MAX_RSS_GIB = 16.0


@dataclass
class Ladder:
    """What `run_steps` measured (RSS in KiB)."""

    rss_zero_kb: int
    steps: list[Step] = field(default_factory=list)
    rss_after_kb: int = 0
    """RSS once every device has gone again."""
    stopped: str | None = None
    """Why the ladder stopped before its last step, if not for a failed step: the projected RSS."""


@dataclass(frozen=True)
class Filled:
    """How connecting a step's new devices went."""

    seconds: float
    slowest_s: float | None
    failures: list[str]


def rss_kb(pid: int) -> int:
    """The process's resident set (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def run_steps(target: Target, args: argparse.Namespace) -> Ladder:
    """Each step's figures, with RSS before any device and after they have all gone again.

    For stock pipecat the first device of the first step is the probe (`benchmarks.idle.pipecat`).
    """
    assert target.pid is not None
    pipecat = target.kind == "pipecat"
    fleet = IdleFleet(
        noise_dbfs=NOISE_DBFS if args.noise else None,
        heartbeat_every_s=None if pipecat else args.heartbeat_every,
        speech=[spoken(clip) for clip in load_clips(args.files)] if args.speech else None,
        gap_s=args.speech_gap,
        reply_timeout_s=args.reply_timeout,
    )
    ids: list[tuple[str, str]] = []
    if not pipecat:
        async with operator_client(target.base_url, target.token) as http:
            ids = [await register_device(http, f"idle-{n}") for n in range(max(args.steps))]
    probe = _probe_device(args) if pipecat else None
    await asyncio.sleep(args.settle)
    ladder = Ladder(rss_zero_kb=rss_kb(target.pid))
    fleet.start()
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(fleet.close)
        if probe is not None:
            stack.push_async_callback(probe.close)
        for count in args.steps:
            ladder.stopped = projected_rss_refusal(
                ladder.steps, count, round(ladder.rss_zero_kb / 1024, 1), args.max_rss_gib
            )
            if ladder.stopped:
                break
            filled = await _fill(_connects(fleet, probe, target, ids, count), pipecat=pipecat, count=count)
            if probe is not None:
                await probe.warm_up()
            await asyncio.sleep(args.settle)
            ladder.steps.append(await _measure(fleet, probe, target.pid, args, ladder.rss_zero_kb, filled))
            if args.until_fails and not ladder.steps[-1].keeps_up:
                break
    await asyncio.sleep(args.settle)
    ladder.rss_after_kb = rss_kb(target.pid)
    return ladder


def _probe_device(args: argparse.Namespace) -> ProbeDevice:
    # Imported here: it loads pipecat's protobuf frames, which a run against this server never needs.
    from benchmarks.idle.pipecat import ProbeDevice

    (clip,) = load_clips([_probe_path(args)])
    return ProbeDevice(clip, reply_timeout_s=args.reply_timeout)


def _probe_path(args: argparse.Namespace) -> Path:
    return args.files[0] if args.files else PROBE_CLIP


def _connects(
    fleet: IdleFleet, probe: ProbeDevice | None, target: Target, ids: list[tuple[str, str]], count: int
) -> list[Callable[[], Awaitable[None]]]:
    """What opens the connections that bring the step to `count` devices (the probe first, if it has
    none yet)."""
    if probe is None:
        return [functools.partial(fleet.connect, target.base_url, d, t) for d, t in ids[fleet.size : count]]
    from benchmarks.idle.pipecat import connect_idle

    connects: list[Callable[[], Awaitable[None]]] = []
    if not probe.is_open:
        connects.append(functools.partial(probe.open, target.base_url))
    missing = count - _devices(fleet, probe) - len(connects)
    return connects + [functools.partial(connect_idle, fleet, target.base_url)] * missing


def _devices(fleet: IdleFleet, probe: ProbeDevice | None) -> int:
    return fleet.size + (1 if probe is not None and probe.is_open else 0)


async def _fill(connects: list[Callable[[], Awaitable[None]]], *, pipecat: bool, count: int) -> Filled:
    """Open these connections, a few at a time (stock pipecat: one at a time); how long it took, and why
    any could not be opened."""
    started = time.perf_counter()
    progress = Progress(len(connects), f"connecting {count}")
    took: list[float] = []
    failures: list[str] = []

    async def timed(connect: Callable[[], Awaitable[None]]) -> None:
        began = time.perf_counter()
        try:
            await connect()
        except CONNECT_ERRORS as error:
            failures.append(f"{type(error).__name__}: {error}".strip().removesuffix(":"))
        else:
            took.append(time.perf_counter() - began)
        progress.advance()

    at_once = PIPECAT_CONNECT_AT_ONCE if pipecat else CONNECT_AT_ONCE
    for first in range(0, len(connects), at_once):
        await asyncio.gather(*(timed(connect) for connect in connects[first : first + at_once]))
    slowest = round(max(took), 1) if took else None
    return Filled(round(time.perf_counter() - started, 1), slowest, failures)


async def _measure(
    fleet: IdleFleet,
    probe: ProbeDevice | None,
    pid: int,
    args: argparse.Namespace,
    rss_zero: int,
    filled: Filled,
) -> Step:
    devices = _devices(fleet, probe)
    progress = Progress(args.duration, f"measuring {devices}")
    mark = cpu_mark(pid)
    window = fleet.begin_window()
    peak = 0
    for _ in range(args.duration):
        await asyncio.sleep(1.0)
        peak = max(peak, rss_kb(pid))
        progress.advance()
    cpu = cpu_since(mark, pid)
    window = await fleet.end_window()
    rss = rss_kb(pid)
    closed = fleet.closed()
    said: Probe | None = None
    if probe is not None:
        said = await probe.say()
        if reason := probe.closed_with():
            closed.append(f"the probe's: {reason}")
    return step_of(
        devices=devices,
        connect_s=filled.seconds,
        slowest_connect_s=filled.slowest_s,
        connect_failures=filled.failures,
        cpu=cpu,
        rss_kb=rss,
        peak_rss_kb=max(peak, rss),
        rss_zero_kb=rss_zero,
        window=window,
        closed=closed,
        rtt_limit_ms=None if probe is not None else args.rtt_limit,
        speech=args.speech and devices > 0,
        probe=said,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    pipecat = args.target == "pipecat"
    _check(parser, args)
    if args.steps is None:
        args.steps = PIPECAT_STEPS if pipecat else SPEECH_STEPS if args.speech else SILENCE_STEPS
    ours = msgspec.json.decode(args.compare.read_bytes(), type=IdleReport) if args.compare else None
    pinning = choose_pinning(enabled=not args.no_pin, server_cpu=args.server_cpu, load_cpu=args.client_cpu)
    _pin_self(pinning, args.client_cpu)
    with started_target(args.target, cpu_prefix=pinning.server) as target:
        waited_s = wait_quiet(args)
        ladder = asyncio.run(run_steps(target, args))
    steps = ladder.steps
    report = IdleReport(
        command=shlex.join([".venv/bin/python", "-m", "benchmarks.idle", *_given(argv)]),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        pinning=_pinning_text(pinning, args),
        audio=_audio_text(args),
        duration_s=args.duration,
        settle_s=args.settle,
        heartbeat_every_s=None if pipecat else args.heartbeat_every,
        rtt_limit_ms=None if pipecat else args.rtt_limit,
        waited_for_quiet_s=waited_s,
        rss_zero_mb=round(ladder.rss_zero_kb / 1024, 1),
        rss_after_disconnect_mb=round(ladder.rss_after_kb / 1024, 1),
        steps=steps,
        speech=args.speech,
        speech_gap_s=args.speech_gap if args.speech else None,
        reply_timeout_s=args.reply_timeout if args.speech or pipecat else None,
        until_fails=args.until_fails,
        capacity=capacity_of(steps),
        target=args.target,
        probe_clip=_probe_path(args).stem if pipecat else None,
        max_rss_gib=args.max_rss_gib,
        stopped=ladder.stopped,
    )
    if ours is not None:
        report.comparison = capacity_comparison(ours, report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
        print(f"written to {args.json}", file=sys.stderr)
    print(markdown(report))
    if args.until_fails:
        return 0 if steps else 1
    return 0 if all(step.keeps_up for step in steps) else 1


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.target != "pipecat":
        if args.compare:
            parser.error("--compare takes this server's run, to compare a --target pipecat run with")
        return
    if args.speech:
        parser.error("--speech applies to this server only (with --target pipecat the probe speaks)")
    if args.steps and args.steps[0] < 1:
        parser.error("--target pipecat needs at least 1 device per step (the first is the probe)")


def _audio_text(args: argparse.Namespace) -> str:
    if args.speech:
        files = f"{len(args.files)} file(s)" if args.files else "the audio fixtures"
        return (
            f"speech ({files} said in a loop, first utterances staggered over {STAGGER_S:g} s, each next "
            f"one {args.speech_gap:g} s after the reply to the last had played; silence in between)"
        )
    return "white noise at -50 dBFS RMS" if args.noise else "digital silence"


def _pinning_text(pinning: Pinning, args: argparse.Namespace) -> str:
    if not pinning.load:
        return pinning.description
    return f"taskset: server on CPU {args.server_cpu}, client on CPU {args.client_cpu}"


def _pin_self(pinning: Pinning, cpu: int) -> None:
    """Run this client on its own CPU when the server is pinned to another."""
    if pinning.load:
        os.sched_setaffinity(0, {cpu})


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.idle",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--target",
        choices=TARGET_KINDS,
        default="ours",
        help="this server (ours, the default) or the stock pipecat reference bot (pipecat; see above)",
    )
    parser.add_argument(
        "--steps",
        type=_counts,
        help="device counts (default 0,1,50,300; with --speech 1,2,4,8,16; --target pipecat 1,5,10,20,40)",
    )
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per step (default 20)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before each window (default 5)")
    parser.add_argument(
        "--noise", action="store_true", help=f"stream noise at {NOISE_DBFS:g} dBFS, not zeros"
    )
    parser.add_argument(
        "--speech", action="store_true", help="every device says the audio fixtures in a loop (see above)"
    )
    parser.add_argument(
        "--files",
        nargs="+",
        type=Path,
        help="--speech: WAV files (default: every fixture); --target pipecat: the probe says the first "
        f"(default: {PROBE_CLIP.stem})",
    )
    parser.add_argument(
        "--speech-gap", type=float, default=1.0, help="--speech: silence after each reply (s, default 1)"
    )
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=10.0,
        help="--speech (and the --target pipecat probe): seconds from the end of an utterance to its reply "
        "audio; later is a missed reply (default 10)",
    )
    parser.add_argument(
        "--until-fails", action="store_true", help="stop after the first step that does not keep up"
    )
    parser.add_argument(
        "--heartbeat-every", type=float, default=2.0, help="seconds between a device's heartbeats (default 2)"
    )
    parser.add_argument(
        "--rtt-limit", type=float, default=200.0, help="heartbeat round trip that counts as keeping up (ms)"
    )
    parser.add_argument(
        "--max-rss-gib",
        type=float,
        default=MAX_RSS_GIB,
        help="do not go to a step whose projected server RSS exceeds this (GiB, default 16)",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="IDLE_JSON",
        help="--target pipecat: this server's report (the --json of a run without --target), to state the "
        "ratios against",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and client to CPUs")
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    parser.add_argument("--client-cpu", type=int, default=1, help="CPU for the client (default 1)")
    add_quiet_argument(parser)
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    return parser


def _counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or any(c < 0 for c in counts) or counts != sorted(counts):
        raise argparse.ArgumentTypeError("increasing counts, e.g. 0,1,50,300")
    return counts


def _given(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)
