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

With `--until-fails` the run stops after the first step that does not keep up
and exits 0: the answer is the largest step kept up with.

    .venv/bin/python -m benchmarks.idle_capacity                      # 0, 1, 50, 300 devices, 20 s each
    .venv/bin/python -m benchmarks.idle_capacity --steps 1,50,300,500 --noise --json idle.json
    .venv/bin/python -m benchmarks.idle_capacity --speech --until-fails --json idle-speech.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from benchmarks.device_link import operator_client, register_device
from benchmarks.idle_fleet import IdleFleet
from benchmarks.idle_report import IdleReport, Step, capacity_of, markdown, step_of
from benchmarks.machine import VOICE_PACKAGES, describe_machine
from benchmarks.progress import Progress
from benchmarks.rest_load import Pinning, choose_pinning
from benchmarks.server_process import ROOT
from benchmarks.speech_loop import STAGGER_S, spoken
from benchmarks.voice_target import (
    Target,
    add_quiet_argument,
    cpu_mark,
    cpu_since,
    started_voice_server,
    wait_quiet,
)
from benchmarks.voice_turn import load_clips

CONNECT_AT_ONCE = 10
"""Devices connecting at the same time while a step fills up."""
NOISE_DBFS = -50.0
SILENCE_STEPS = [0, 1, 50, 300]
SPEECH_STEPS = [1, 2, 4, 8, 16]


def rss_kb(pid: int) -> int:
    """The process's resident set (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def run_steps(target: Target, args: argparse.Namespace) -> tuple[int, list[Step], int]:
    """RSS with no device, each step's figures, and RSS once every device has gone again (KiB)."""
    assert target.pid is not None
    fleet = IdleFleet(
        noise_dbfs=NOISE_DBFS if args.noise else None,
        heartbeat_every_s=args.heartbeat_every,
        speech=[spoken(clip) for clip in load_clips(args.files)] if args.speech else None,
        gap_s=args.speech_gap,
        reply_timeout_s=args.reply_timeout,
    )
    async with operator_client(target.base_url, target.token) as http:
        ids = [await register_device(http, f"idle-{n}") for n in range(max(args.steps))]
    await asyncio.sleep(args.settle)
    rss_zero = rss_kb(target.pid)
    fleet.start()
    steps = []
    try:
        for count in args.steps:
            connect_s = await _fill(fleet, target, ids[fleet.size : count])
            await asyncio.sleep(args.settle)
            steps.append(await _measure(fleet, target.pid, args, rss_zero, connect_s))
            if args.until_fails and not steps[-1].keeps_up:
                break
    finally:
        await fleet.close()
    await asyncio.sleep(args.settle)
    return rss_zero, steps, rss_kb(target.pid)


async def _fill(fleet: IdleFleet, target: Target, ids: list[tuple[str, str]]) -> float:
    """Connect these devices, a few at a time; the seconds it took."""
    started = time.perf_counter()
    progress = Progress(len(ids), f"connecting {fleet.size + len(ids)}")
    for first in range(0, len(ids), CONNECT_AT_ONCE):
        batch = ids[first : first + CONNECT_AT_ONCE]
        await asyncio.gather(*(fleet.connect(target.base_url, d, t) for d, t in batch))
        for _ in batch:
            progress.advance()
    return round(time.perf_counter() - started, 1)


async def _measure(
    fleet: IdleFleet, pid: int, args: argparse.Namespace, rss_zero: int, connect_s: float
) -> Step:
    progress = Progress(args.duration, f"measuring {fleet.size}")
    mark = cpu_mark(pid)
    window = fleet.begin_window()
    peak = 0
    for _ in range(args.duration):
        await asyncio.sleep(1.0)
        peak = max(peak, rss_kb(pid))
        progress.advance()
    cpu = cpu_since(mark, pid)
    window = await fleet.end_window()
    return step_of(
        devices=fleet.size,
        connect_s=connect_s,
        cpu=cpu,
        rss_kb=rss_kb(pid),
        peak_rss_kb=peak,
        rss_zero_kb=rss_zero,
        window=window,
        closed=fleet.closed(),
        rtt_limit_ms=args.rtt_limit,
        speech=args.speech and fleet.size > 0,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.steps is None:
        args.steps = SPEECH_STEPS if args.speech else SILENCE_STEPS
    pinning = choose_pinning(enabled=not args.no_pin, server_cpu=args.server_cpu, load_cpu=args.client_cpu)
    _pin_self(pinning, args.client_cpu)
    with started_voice_server(cpu_prefix=pinning.server) as target:
        waited_s = wait_quiet(args)
        rss_zero, steps, rss_after = asyncio.run(run_steps(target, args))
    report = IdleReport(
        command=shlex.join([".venv/bin/python", "-m", "benchmarks.idle_capacity", *_given(argv)]),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        pinning=_pinning_text(pinning, args),
        audio=_audio_text(args),
        duration_s=args.duration,
        settle_s=args.settle,
        heartbeat_every_s=args.heartbeat_every,
        rtt_limit_ms=args.rtt_limit,
        waited_for_quiet_s=waited_s,
        rss_zero_mb=round(rss_zero / 1024, 1),
        rss_after_disconnect_mb=round(rss_after / 1024, 1),
        steps=steps,
        speech=args.speech,
        speech_gap_s=args.speech_gap if args.speech else None,
        reply_timeout_s=args.reply_timeout if args.speech else None,
        until_fails=args.until_fails,
        capacity=capacity_of(steps),
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
        print(f"written to {args.json}", file=sys.stderr)
    print(markdown(report))
    if args.until_fails:
        return 0 if steps else 1
    return 0 if all(step.keeps_up for step in steps) else 1


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
        prog="python -m benchmarks.idle_capacity",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--steps", type=_counts, help="device counts (default 0,1,50,300; with --speech 1,2,4,8,16)"
    )
    parser.add_argument("--duration", type=int, default=20, help="measured seconds per step (default 20)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before each window (default 5)")
    parser.add_argument(
        "--noise", action="store_true", help=f"stream noise at {NOISE_DBFS:g} dBFS, not zeros"
    )
    parser.add_argument(
        "--speech", action="store_true", help="every device says the audio fixtures in a loop (see above)"
    )
    parser.add_argument("--files", nargs="+", type=Path, help="--speech: WAV files (default: every fixture)")
    parser.add_argument(
        "--speech-gap", type=float, default=1.0, help="--speech: silence after each reply (s, default 1)"
    )
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=10.0,
        help="--speech: seconds from the end of an utterance to its reply audio; later is a missed reply",
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


if __name__ == "__main__":
    sys.exit(main())
