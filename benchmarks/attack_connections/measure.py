"""Idle attacker connections against legitimate traffic (issue 12, "Bounded everything").

One text-only server starts (`companion-voice serve`, pinned to CPU 0 and this client to CPU 1
when it can be), optionally with a lower limit on open files (`--server-open-files 1024`, the
usual default) or from another source tree (`--server-root`, e.g. an older commit, for the figures
before a change). This process raises its own limit on open files to its hard limit, registers
one device, then for each level N (default 0, 1000, 2000, 5000, 10000): holds N attacker sockets
open against the server, half slow-loris (a request line and headers trickled every 5 s, never
finished), half bare TCP (nothing sent), reopening each one the server closes; and for `--window`
seconds sends, every `--every` seconds, one legitimate REST request (`GET /devices/{id}/state`
with the device's token, each on a fresh connection) and one device WebSocket connect (until the
server's `connected`). A request or connect not done within 5 s counts as failed.

The report gives per level: the attacker sockets open (mean over the window, this client's view),
the server's open file descriptors, how many attacker sockets the server closed per second, and
success rate and p50 / p99 latency of the legitimate requests and connects.

    .venv/bin/python -m benchmarks.attack_connections --wait-quiet 120 \\
        --json benchmarks/results/attack_connections.json
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.attack_connections.attackers import AttackerPool
from benchmarks.attack_connections.probes import Legit, fresh_connection_client, probe
from benchmarks.attack_connections.report import AttackReport, Level, markdown
from benchmarks.lib.cli import command_line, finish, ms
from benchmarks.lib.cpu import choose_pinning
from benchmarks.lib.device import operator_client, register_device
from benchmarks.lib.machine import describe_machine
from benchmarks.lib.server_process import ROOT, running_server
from benchmarks.lib.stats import summarize
from benchmarks.lib.targets import add_quiet_argument, cpu_mark, cpu_since, wait_quiet

SERVER_ENV = {
    "COMPANION_VOICE_ENABLED": "false",
    "COMPANION_DEVICE_REQUESTS_PER_MINUTE": "0",
    "COMPANION_LOG_LEVEL": "WARNING",
}
GROW_WITHIN_S = 60.0


def raise_own_fd_limit() -> int:
    """This client's soft limit on open files, raised to its hard limit: it holds the attackers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_command(open_files: tuple[int, int] | None, root: Path | None) -> list[str]:
    """What follows the interpreter to start the server: `-m server.cli serve`, or a starter that first
    sets the limit on open files and the source tree the server is imported from."""
    if open_files is None and root is None:
        return ["-m", "server.cli", "serve"]
    steps = ["import resource, runpy, sys, os"]
    if open_files is not None:
        steps.append(f"resource.setrlimit(resource.RLIMIT_NOFILE, {open_files})")
    if root is not None:
        steps += [f"sys.path.insert(0, {str(root)!r})", f"os.chdir({str(root)!r})"]
    steps += [
        "sys.argv = ['companion-voice', 'serve']",
        "runpy.run_module('server.cli', run_name='__main__')",
    ]
    return ["-c", "; ".join(steps)]


def open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def drive(base_url: str, token: str, pid: int, args: argparse.Namespace) -> list[Level]:
    async with operator_client(base_url, token) as http:
        device_id, device_token = await register_device(http, "attack-probe")
    http = fresh_connection_client(base_url, device_token)
    legit = Legit(base_url, token, device_id, device_token, http)
    address = urlsplit(base_url)
    pool = AttackerPool(address.hostname or "127.0.0.1", address.port or 80)
    levels = []
    try:
        for n in args.levels:
            grow_s = await pool.grow_to(n, within_s=GROW_WITHIN_S)
            await asyncio.sleep(args.settle)
            closed_before = pool.counts.closed_by_server
            pool.counts.held_samples.clear()
            sampler = asyncio.create_task(_sample(pool))
            mark = cpu_mark(pid)
            started = time.monotonic()
            results = await probe(legit, seconds=args.window, every_s=args.every)
            seconds = time.monotonic() - started
            cpu = cpu_since(mark, pid)
            fds = open_fds(pid)
            sampler.cancel()
            held = pool.counts.held_samples or [pool.counts.open]
            levels.append(
                Level(
                    attackers=n,
                    grow_s=round(grow_s, 1),
                    held_mean=round(sum(held) / len(held)),
                    held_min=min(held),
                    server_open_fds=fds,
                    closed_by_server_per_s=round((pool.counts.closed_by_server - closed_before) / seconds, 1),
                    connect_failures=pool.counts.connect_failures,
                    rest_ok=len(results.rest_ms),
                    rest_failed=len(results.rest_failures),
                    rest_ms=summarize(results.rest_ms),
                    rest_failures=sorted(set(results.rest_failures)),
                    ws_ok=len(results.ws_ms),
                    ws_failed=len(results.ws_failures),
                    ws_ms=summarize(results.ws_ms),
                    ws_failures=sorted(set(results.ws_failures)),
                    cpu=cpu,
                )
            )
            print(f"attack_connections: {levels[-1].line()}", file=sys.stderr)
    finally:
        await pool.close()
        await http.aclose()
    return levels


async def _sample(pool: AttackerPool) -> None:
    while True:
        pool.sample()
        await asyncio.sleep(0.5)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    own_limit = raise_own_fd_limit()
    if max(args.levels) + 200 > own_limit:
        print(f"attack_connections: this process may open only {own_limit} files", file=sys.stderr)
        return 2
    pinning = choose_pinning(enabled=not args.no_pin, server_cpu=0, load_cpu=1)
    if pinning.load:
        os.sched_setaffinity(0, {1})
    open_files = _limits(args.server_open_files)
    with running_server(
        extra_env=SERVER_ENV,
        cpu_prefix=pinning.server,
        module_args=server_command(open_files, args.server_root),
    ) as server:
        waited_s = wait_quiet(args)
        server_limit = _server_fd_limit(server.pid)
        levels = asyncio.run(drive(server.base_url, server.operator_token(), server.pid, args))
    report = AttackReport(
        command=command_line("benchmarks.attack_connections", argv),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT),
        pinning=pinning.description.replace("wrk", "client"),
        server_root=str(args.server_root or ROOT),
        server_open_files=server_limit,
        client_open_files=own_limit,
        window_s=args.window,
        every_s=args.every,
        probe_timeout_ms=ms(5.0),
        waited_for_quiet_s=waited_s,
        levels=levels,
    )
    return finish(args, report, markdown)


def _limits(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    soft, _, hard = text.partition(":")
    return int(soft), int(hard or soft)


def _server_fd_limit(pid: int) -> str:
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return f"{soft} (hard {hard})"
    except OSError:
        pass
    return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.attack_connections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--levels",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[0, 1000, 2000, 5000, 10000],
        help="attacker sockets held, in turn (default 0,1000,2000,5000,10000)",
    )
    parser.add_argument("--window", type=float, default=20.0, help="seconds probed per level (default 20)")
    parser.add_argument("--every", type=float, default=0.25, help="seconds between probes (default 0.25)")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds after growing (default 2)")
    parser.add_argument(
        "--server-open-files",
        metavar="SOFT[:HARD]",
        help="start the server with this limit on open files (e.g. 1024, the usual default)",
    )
    parser.add_argument(
        "--server-root", type=Path, help="import the server from this source tree (e.g. an older commit)"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server to CPU 0, the client to 1"
    )
    add_quiet_argument(parser)
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    return parser
