"""What the group benchmarks share (`benchmarks.coordination`, `benchmarks.sync`, `benchmarks.trivia`).

Servers without the voice models and with the rate limits off, on the memory store or on Redis
(`--redis-url`, `--instances`), or servers already running (`--url`, `--token`); a fleet of devices
of one group split evenly over the servers; one run per fleet size; and the report's title and
its table of figures (p50 / p99 / max per fleet size).
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import wave
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx

from benchmarks.lib.device import DeviceError, DeviceSocket
from benchmarks.lib.machine import Machine
from benchmarks.lib.report import SUMMARY_HEADER, header_line, summary_cells, table, title_lines
from benchmarks.lib.server_process import running_server
from benchmarks.lib.stats import Summary
from benchmarks.lib.targets import add_quiet_argument, wait_quiet

SERVER_ENV = {
    "COMPANION_VOICE_ENABLED": "false",
    "COMPANION_DIALOG_TURNS_PER_MINUTE": "0",
    "COMPANION_DEVICE_REQUESTS_PER_MINUTE": "0",
    "COMPANION_LOG_LEVEL": "WARNING",
}
L = TypeVar("L")


def add_server_arguments(parser: argparse.ArgumentParser, *, given: bool = True) -> None:
    """`--redis-url`, `--instances`, with `given` `--url` and `--token`, then `--json` and `--wait-quiet`."""
    parser.add_argument("--redis-url", help="run the servers on this Redis (default: the memory store)")
    parser.add_argument("--instances", type=int, default=1, help="servers to start (more than 1 needs Redis)")
    if given:
        parser.add_argument("--url", action="append", help="a running server instead (repeat for more)")
        parser.add_argument("--token", help="an operator token for --url")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    add_quiet_argument(parser)


def backend_name(args: argparse.Namespace) -> str:
    return "redis" if args.redis_url else "memory" if not getattr(args, "url", None) else "given"


@contextmanager
def started_servers(args: argparse.Namespace, *, media: str | None = None) -> Iterator[tuple[list[str], str]]:
    """The servers' base URLs and an operator token: those given (`--url`, `--token`) or fresh ones.

    With `media`, the servers' media library is a temporary folder holding that one file, a second
    of silence (16 kHz mono PCM16 WAV).
    """
    if getattr(args, "url", None):
        if not args.token:
            raise SystemExit("--url needs --token (an operator token: `companion-voice token`)")
        yield [u.rstrip("/") for u in args.url], args.token
        return
    env = dict(SERVER_ENV)
    if args.redis_url:
        env["COMPANION_REDIS_URL"] = args.redis_url
        env["COMPANION_REDIS_KEY_PREFIX"] = f"bench{secrets.token_hex(4)}:"
        env["COMPANION_REDIS_REQUIRE_PERSISTENCE"] = "none"
    elif args.instances > 1:
        raise SystemExit("--instances > 1 needs --redis-url: instances share state through Redis")
    with ExitStack() as stack:
        if media is not None:
            media_dir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="companion-bench-media-"))
            )
            _write_silence(media_dir / media)
            env["COMPANION_MEDIA_DIR"] = str(media_dir)
        secret = secrets.token_urlsafe(48)
        servers = [
            stack.enter_context(
                running_server(extra_env={**env, "COMPANION_JWT_SECRET": secret}, cpu_prefix=[])
            )
            for _ in range(args.instances)
        ]
        yield [s.base_url for s in servers], servers[0].operator_token()


def _write_silence(path: Path) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\0\0" * 16_000)


def run_levels(
    args: argparse.Namespace,
    level: Callable[[list[str], str, int], Coroutine[Any, Any, L]],
    *,
    media: str | None = None,
) -> tuple[list[L], int, float] | None:
    """`level(urls, token, devices)` for every `--devices` size on the servers, after the quiet wait:
    (the levels, how many servers, seconds waited), or None (the failure printed) on a `DeviceError`."""
    with started_servers(args, media=media) as (urls, token):
        waited_s = wait_quiet(args)
        levels: list[L] = []
        try:
            for devices in args.devices:
                levels.append(asyncio.run(level(urls, token, devices)))
                print(f"{devices} devices done", file=sys.stderr)
        except DeviceError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return None
    return levels, len(urls), waited_s


async def connect_fleet(
    http: httpx.AsyncClient, urls: list[str], devices: int, group_id: str
) -> list[DeviceSocket]:
    """`devices` new devices of `group_id`, registered by the operator, connected in turn to each server."""
    sockets = []
    for n in range(devices):
        response = await http.post(
            "/devices", json={"name": f"bench-{n}", "device_type": "custom", "group_id": group_id}
        )
        check(response, 201)
        body = response.json()
        url = urls[n % len(urls)]
        sockets.append(
            await DeviceSocket.connect(url, body["device_id"], body["auth_token"], sample_rate=None)
        )
    return sockets


def check(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise DeviceError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


class GroupReport(Protocol):
    command: str
    backend: str
    instances: int
    machine: Machine
    generated_at: datetime


def report_title(title: str, report: GroupReport) -> list[str]:
    """`title (backend, N instance(s))`, the command and the machine line."""
    label = f"{report.backend}, {report.instances} instance{'s' if report.instances > 1 else ''}"
    return title_lines(
        f"{title} ({label})",
        report.command,
        header_line(report.machine, report.generated_at, f"{report.instances} server(s) started by the run"),
    )


def figures_table(levels: Sequence[tuple[int, Sequence[tuple[str, Summary | None]]]]) -> list[str]:
    """One row per fleet size and figure: devices, the figure's name (ms), its summary."""
    rows = [
        [str(devices), name, *summary_cells(summary)]
        for devices, figures in levels
        for name, summary in figures
    ]
    return table(["devices", "figure (ms)", *SUMMARY_HEADER], rows)
