"""Synchronised playback: how far apart reference devices with offset clocks actually start.

N devices of one group connect (split evenly over the instances), each with its own clock: this
machine's off by a random offset (±`--offset-s`, seeded) and a reading noise (±`--jitter-ms`).
Each sends `--sync-rounds` timestamped heartbeats, one after the other, so the server can estimate
its clock (README, "Synchronised playback"). Each round:

  1. `POST /coordination/group-activity` (`sync_playback`, a WAV of the media library); each device
     waits for its cue's `device_at_ms` on its own clock and starts, noting the true time;
  2. `POST /coordination/activities/{id}/playback` `{"action": "stop"}`.

The true clock is this machine's, which on loopback is the server's: a device's **error** is its true
start minus the server's instant (`at_ms`), the round's **spread** its latest start minus its earliest,
the **margin** how long before the instant the cue arrived (the lead left over). Pooled over the rounds:
p50 / p99 / max.

    .venv/bin/python -m benchmarks.sync --devices 3 30 100
    .venv/bin/python -m benchmarks.sync --devices 3 30 100 --redis-url redis://127.0.0.1:6379/0 --instances 2
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import tempfile
import wave
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from benchmarks.lib.cli import command_line, write_json
from benchmarks.lib.device import DeviceClock, DeviceError, DeviceSocket, operator_client
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.report import SUMMARY_HEADER, header_line, summary_cells, table, title_lines
from benchmarks.lib.server_process import running_server
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import add_quiet_argument, wait_quiet

ROOT = Path(__file__).resolve().parents[2]
MEDIA = "bench.wav"
SERVER_ENV = {
    "COMPANION_VOICE_ENABLED": "false",
    "COMPANION_DIALOG_TURNS_PER_MINUTE": "0",
    "COMPANION_DEVICE_REQUESTS_PER_MINUTE": "0",
    "COMPANION_LOG_LEVEL": "WARNING",
}
WAIT_S = 30.0


class Level(msgspec.Struct, kw_only=True):
    devices: int
    rounds: int
    error_ms: Summary | None
    """|true start - the server's instant|, every device of every round."""
    spread_ms: Summary | None
    """Latest start - earliest start, one per round."""
    margin_ms: Summary | None
    """The server's instant - the cue's arrival (true time): the lead left over."""
    uncertainty_ms: Summary | None
    """What the server said about its own estimate (half the round trip it kept)."""


class Report(msgspec.Struct, kw_only=True):
    command: str
    backend: str
    instances: int
    offset_s: float
    jitter_ms: float
    sync_rounds: int
    machine: Machine
    generated_at: datetime
    levels: list[Level]
    waited_s: float


@contextmanager
def started_servers(args: argparse.Namespace) -> Iterator[tuple[list[str], str]]:
    env = dict(SERVER_ENV)
    if args.redis_url:
        env["COMPANION_REDIS_URL"] = args.redis_url
        env["COMPANION_REDIS_KEY_PREFIX"] = f"bench{secrets.token_hex(4)}:"
        env["COMPANION_REDIS_REQUIRE_PERSISTENCE"] = "none"
    elif args.instances > 1:
        raise SystemExit("--instances > 1 needs --redis-url: instances share state through Redis")
    with ExitStack() as stack:
        media_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="companion-bench-media-")))
        _write_silence(media_dir / MEDIA)
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


async def run_level(urls: list[str], token: str, args: argparse.Namespace, devices: int) -> Level:
    group_id = f"bench-{secrets.token_hex(4)}"
    pooled: dict[str, list[float]] = {"error": [], "spread": [], "margin": [], "uncertainty": []}
    rng = random.Random(devices)
    async with operator_client(urls[0], token) as http:
        fleet = await _connect_fleet(http, urls, devices, group_id, args, rng)
        try:
            for number in range(args.warmup + args.rounds):
                figures = await _round(http, fleet)
                if number >= args.warmup:
                    for name, values in figures.items():
                        pooled[name] += values
        finally:
            await asyncio.gather(*(s.close() for s, _ in fleet))
    return Level(
        devices=devices,
        rounds=args.rounds,
        error_ms=summarize(pooled["error"]),
        spread_ms=summarize(pooled["spread"]),
        margin_ms=summarize(pooled["margin"]),
        uncertainty_ms=summarize(pooled["uncertainty"]),
    )


async def _connect_fleet(
    http: httpx.AsyncClient,
    urls: list[str],
    devices: int,
    group_id: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> list[tuple[DeviceSocket, DeviceClock]]:
    fleet = []
    for n in range(devices):
        response = await http.post(
            "/devices", json={"name": f"bench-{n}", "device_type": "custom", "group_id": group_id}
        )
        _check(response, 201)
        body = response.json()
        socket = await DeviceSocket.connect(
            urls[n % len(urls)], body["device_id"], body["auth_token"], sample_rate=None
        )
        clock = DeviceClock(
            offset_s=rng.uniform(-args.offset_s, args.offset_s), jitter_s=args.jitter_ms / 1000, seed=n
        )
        fleet.append((socket, clock))
    # The heartbeats of all devices at once, as a fleet that has just come up would send them.
    await asyncio.gather(*(s.sync_clock(c, rounds=args.sync_rounds, timeout=WAIT_S) for s, c in fleet))
    return fleet


async def _round(
    http: httpx.AsyncClient, fleet: list[tuple[DeviceSocket, DeviceClock]]
) -> dict[str, list[float]]:
    marks = [s.mark() for s, _ in fleet]
    response = await http.post(
        "/coordination/group-activity",
        json={
            "activity_type": "sync_playback",
            "device_ids": [s.device_id for s, _ in fleet],
            "persona_id": "entertainer",
            "config": {"media": MEDIA},
        },
    )
    _check(response, 201)
    activity_id = response.json()["activity_id"]
    played = await asyncio.gather(*(_play(s, c, mark) for (s, c), mark in zip(fleet, marks, strict=True)))
    stopped = await http.post(f"/coordination/activities/{activity_id}/playback", json={"action": "stop"})
    _check(stopped, 200)
    starts = [start for start, _, _, _ in played]
    return {
        "error": [abs(start - at) for start, at, _, _ in played],
        "spread": [max(starts) - min(starts)],
        "margin": [margin for _, _, margin, _ in played],
        "uncertainty": [u for _, _, _, u in played],
    }


async def _play(socket: DeviceSocket, clock: DeviceClock, mark: int) -> tuple[float, float, float, float]:
    """(true start, the server's instant, margin, the stated uncertainty), ms."""
    message = await socket.wait_for(
        lambda m: m.type == "sync_event" and m.payload.get("event_type") == "group_activity_start",
        since=mark,
        timeout=WAIT_S,
    )
    cue = message.payload["playback"]
    if cue.get("device_at_ms") is None:
        raise DeviceError(f"device {socket.device_id}: its clock was not estimated: {cue}")
    started = await socket.start_at(clock, cue)
    return started, cue["at_ms"], cue["at_ms"] - clock.true_ms(message.at), cue["uncertainty_ms"]


def _check(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise DeviceError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


def markdown(report: Report) -> str:
    backend = f"{report.backend}, {report.instances} instance{'s' if report.instances > 1 else ''}"
    lines = title_lines(
        f"Synchronised playback start skew ({backend})",
        report.command,
        header_line(report.machine, report.generated_at, f"{report.instances} server(s) started by the run"),
    )
    lines.append(
        f"Device clocks off by up to ±{report.offset_s:g} s, read with ±{report.jitter_ms:g} ms noise; "
        f"{report.sync_rounds} timestamped heartbeats each before the first start."
    )
    lines.append("")
    rows = []
    for level in report.levels:
        for name, summary in (
            ("start error (abs. start - instant)", level.error_ms),
            ("spread per round (latest - earliest)", level.spread_ms),
            ("margin (instant - cue arrival)", level.margin_ms),
            ("server's stated uncertainty", level.uncertainty_ms),
        ):
            rows.append([str(level.devices), name, *summary_cells(summary)])
    lines += table(["devices", "figure (ms)", *SUMMARY_HEADER], rows)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with started_servers(args) as (urls, token):
        waited_s = wait_quiet(args)
        levels = []
        try:
            for devices in args.devices:
                levels.append(asyncio.run(run_level(urls, token, args, devices)))
                print(f"{devices} devices done", file=sys.stderr)
        except DeviceError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
    report = Report(
        command=command_line("benchmarks.sync", argv),
        backend="redis" if args.redis_url else "memory",
        instances=len(urls),
        offset_s=args.offset_s,
        jitter_ms=args.jitter_ms,
        sync_rounds=args.sync_rounds,
        machine=describe_machine(ROOT),
        generated_at=datetime.now(UTC),
        levels=levels,
        waited_s=waited_s,
    )
    if args.json:
        write_json(args.json, report)
    print(markdown(report))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.sync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--devices", type=int, nargs="+", default=[3, 30, 100], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds first, not counted (default 1)")
    parser.add_argument("--offset-s", type=float, default=5.0, help="clock offsets up to ± this (default 5)")
    parser.add_argument("--jitter-ms", type=float, default=0.5, help="clock reading noise ± (default 0.5)")
    parser.add_argument("--sync-rounds", type=int, default=8, help="timestamped heartbeats per device")
    parser.add_argument("--redis-url", help="run the servers on this Redis (default: the memory store)")
    parser.add_argument("--instances", type=int, default=1, help="servers to start (more than 1 needs Redis)")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    add_quiet_argument(parser)
    return parser
