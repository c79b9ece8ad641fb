"""The server a voice benchmark talks to: one already running (`--url`, `--token`) or one it starts.

A started server is `companion-voice serve` through `benchmarks.lib.server_process`
(a throwaway secret and state dir, nothing from the caller's `COMPANION_*`
environment) with the voice models on and the per-device rate limits off,
since a benchmark's devices talk and switch far more than a person would.
When the benchmark started the server it knows its process, so it can also
say how much CPU the server, the client and everything else used. The stock
pipecat reference bot (`benchmarks.reference`) is a target too: `--pipecat-url`,
or one started through `benchmarks.reference.bot_process`.
"""

from __future__ import annotations

import argparse
import os
import resource
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import msgspec

from benchmarks.lib.cpu import QUIET_BELOW_PCT, QUIET_FOR_S, CpuSample, sample, usage, wait_until_quiet
from benchmarks.lib.server_process import running_server
from benchmarks.reference.bot_process import running_reference_bot

VOICE_SERVER_ENV = {
    "COMPANION_VOICE_ENABLED": "true",
    "COMPANION_DIALOG_TURNS_PER_MINUTE": "0",
    "COMPANION_DEVICE_REQUESTS_PER_MINUTE": "0",
    "COMPANION_LOG_LEVEL": "WARNING",
}
STARTUP_TIMEOUT_S = 180.0
"""Loading Whisper, the VAD and Smart Turn and warming every voice takes seconds; more on a busy machine."""


TargetKind = Literal["ours", "pipecat"]
"""What a voice benchmark talks to: this server, or the stock pipecat bot of `benchmarks.reference`."""
TARGET_KINDS: tuple[TargetKind, ...] = ("ours", "pipecat")
TARGET_NAMES: dict[TargetKind, str] = {"ours": "this server", "pipecat": "stock pipecat reference bot"}


@dataclass(frozen=True)
class Target:
    base_url: str
    token: str
    """An operator token (empty for the pipecat bot, which has no auth)."""
    pid: int | None
    """The server's process id when the benchmark started it (for CPU and memory figures)."""
    kind: TargetKind = "ours"

    @property
    def description(self) -> str:
        prefix = "" if self.kind == "ours" else f"{TARGET_NAMES[self.kind]}, "
        if self.pid is not None:
            return f"{prefix}started by the benchmark (pid {self.pid})"
        return f"{prefix}already running at {self.base_url}"


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server")
    group.add_argument("--url", help="base URL of a running server, e.g. http://127.0.0.1:8080")
    group.add_argument("--token", help="an operator token for --url (`companion-voice token`)")
    group.add_argument(
        "--start-server",
        action="store_true",
        help="start a voice-enabled server for the run (the default when --url is not given)",
    )
    add_quiet_argument(parser)


def add_reference_arguments(parser: argparse.ArgumentParser) -> None:
    """`--target ours|pipecat|both` and `--pipecat-url`, for benchmarks that can drive either bot."""
    group = parser.add_argument_group("stock pipecat reference")
    group.add_argument(
        "--target",
        choices=[*TARGET_KINDS, "both"],
        default="ours",
        help="this server (ours), the stock pipecat reference bot (pipecat), or one after the other "
        "on the same files (both; the report gives the ratio)",
    )
    group.add_argument(
        "--pipecat-url",
        help="base URL of a running reference bot (`python -m benchmarks.reference.pipecat_bot`); "
        "by default the benchmark starts one",
    )


def target_kinds(args: argparse.Namespace) -> list[TargetKind]:
    """The targets `--target` names, in the order they are measured."""
    return list(TARGET_KINDS) if args.target == "both" else [args.target]


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help=f"before measuring, wait up to this long for the machine to stay under {QUIET_BELOW_PCT:g}%% "
        f"of a core busy for {QUIET_FOR_S:g} s (for shared machines; default 0)",
    )


def wait_quiet(args: argparse.Namespace) -> float:
    """Wait (up to `--wait-quiet` seconds) for the machine to go quiet; the seconds waited."""
    if args.wait_quiet <= 0:
        return 0.0
    return wait_until_quiet(busy_below_pct=QUIET_BELOW_PCT, for_s=QUIET_FOR_S, timeout_s=args.wait_quiet)


@contextmanager
def voice_target(
    args: argparse.Namespace, *, cpu_prefix: Sequence[str] = (), kind: TargetKind = "ours"
) -> Iterator[Target]:
    """The server named by `--url`/`--token`, or a fresh voice-enabled one, stopped on exit.

    With `kind="pipecat"`: the reference bot at `--pipecat-url`, or a fresh one.
    """
    if kind == "pipecat":
        url = getattr(args, "pipecat_url", None)
        if url:
            yield Target(base_url=url.rstrip("/"), token="", pid=None, kind="pipecat")
            return
        with started_target("pipecat", cpu_prefix=cpu_prefix) as target:
            yield target
        return
    if args.url and not args.start_server:
        if not args.token:
            raise SystemExit("--url needs --token (an operator token: `companion-voice token`)")
        yield Target(base_url=args.url.rstrip("/"), token=args.token, pid=None)
        return
    with started_voice_server(cpu_prefix=cpu_prefix) as target:
        yield target


@contextmanager
def started_target(kind: TargetKind, *, cpu_prefix: Sequence[str] = ()) -> Iterator[Target]:
    """A fresh server of `kind` (this one, voice-enabled, or the stock pipecat bot), stopped on exit."""
    if kind == "ours":
        with started_voice_server(cpu_prefix=cpu_prefix) as target:
            yield target
        return
    with running_reference_bot(cpu_prefix=cpu_prefix) as bot:
        yield Target(base_url=bot.base_url, token="", pid=bot.pid, kind="pipecat")


@contextmanager
def started_voice_server(*, cpu_prefix: Sequence[str] = ()) -> Iterator[Target]:
    """A fresh voice-enabled `companion-voice serve`, run behind `cpu_prefix` (e.g. taskset)."""
    with running_server(
        extra_env=VOICE_SERVER_ENV, cpu_prefix=list(cpu_prefix), startup_timeout_s=STARTUP_TIMEOUT_S
    ) as server:
        yield Target(base_url=server.base_url, token=server.operator_token(), pid=server.pid)


class CpuWindow(msgspec.Struct, frozen=True, kw_only=True):
    """CPU over a measured window, percent of one core; server figures only for a server we started."""

    seconds: float
    server_pct: float | None
    client_pct: float
    """This benchmark process (the devices)."""
    other_pct: float | None
    """Busy time of all CPUs that was neither the server's nor the client's: other work on the machine."""
    busy_pct: dict[str, float]
    load_average_1m: float


@dataclass(frozen=True)
class CpuMark:
    sample: CpuSample
    client_s: float


def cpu_mark(pid: int | None) -> CpuMark:
    return CpuMark(sample(pid if pid is not None else -1), _own_cpu_s())


def cpu_since(mark: CpuMark, pid: int | None) -> CpuWindow:
    now = sample(pid if pid is not None else -1)
    measured = usage(mark.sample, now)
    seconds = now.at - mark.sample.at
    client_pct = round(100.0 * (_own_cpu_s() - mark.client_s) / seconds, 1) if seconds > 0 else 0.0
    other = None
    if measured.other_pct is not None:
        other = round(max(0.0, measured.other_pct - client_pct), 1)
    return CpuWindow(
        seconds=round(seconds, 1),
        server_pct=measured.server_pct if pid is not None else None,
        client_pct=client_pct,
        other_pct=other,
        busy_pct=measured.busy_pct,
        load_average_1m=round(os.getloadavg()[0], 2),
    )


def _own_cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime
