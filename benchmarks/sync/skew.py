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
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from benchmarks.lib.cli import command_line, finish
from benchmarks.lib.device import DeviceClock, DeviceError, DeviceSocket, operator_client
from benchmarks.lib.group_fleet import (
    add_server_arguments,
    backend_name,
    check,
    connect_fleet,
    figures_table,
    report_title,
    run_levels,
)
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.stats import Summary, summarize

ROOT = Path(__file__).resolve().parents[2]
MEDIA = "bench.wav"
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


async def run_level(urls: list[str], token: str, args: argparse.Namespace, devices: int) -> Level:
    group_id = f"bench-{secrets.token_hex(4)}"
    pooled: dict[str, list[float]] = {"error": [], "spread": [], "margin": [], "uncertainty": []}
    rng = random.Random(devices)
    async with operator_client(urls[0], token) as http:
        fleet = await _connect_clocked_fleet(http, urls, devices, group_id, args, rng)
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


async def _connect_clocked_fleet(
    http: httpx.AsyncClient,
    urls: list[str],
    devices: int,
    group_id: str,
    args: argparse.Namespace,
    rng: random.Random,
) -> list[tuple[DeviceSocket, DeviceClock]]:
    sockets = await connect_fleet(http, urls, devices, group_id)
    fleet = [
        (
            socket,
            DeviceClock(
                offset_s=rng.uniform(-args.offset_s, args.offset_s), jitter_s=args.jitter_ms / 1000, seed=n
            ),
        )
        for n, socket in enumerate(sockets)
    ]
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
    check(response, 201)
    activity_id = response.json()["activity_id"]
    played = await asyncio.gather(*(_play(s, c, mark) for (s, c), mark in zip(fleet, marks, strict=True)))
    stopped = await http.post(f"/coordination/activities/{activity_id}/playback", json={"action": "stop"})
    check(stopped, 200)
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


def markdown(report: Report) -> str:
    lines = report_title("Synchronised playback start skew", report)
    lines.append(
        f"Device clocks off by up to ±{report.offset_s:g} s, read with ±{report.jitter_ms:g} ms noise; "
        f"{report.sync_rounds} timestamped heartbeats each before the first start."
    )
    lines.append("")
    lines += figures_table(
        [
            (
                level.devices,
                [
                    ("start error (abs. start - instant)", level.error_ms),
                    ("spread per round (latest - earliest)", level.spread_ms),
                    ("margin (instant - cue arrival)", level.margin_ms),
                    ("server's stated uncertainty", level.uncertainty_ms),
                ],
            )
            for level in report.levels
        ]
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    async def level(urls: list[str], token: str, devices: int) -> Level:
        return await run_level(urls, token, args, devices)

    run = run_levels(args, level, media=MEDIA)
    if run is None:
        return 1
    levels, instances, waited_s = run
    report = Report(
        command=command_line("benchmarks.sync", argv),
        backend=backend_name(args),
        instances=instances,
        offset_s=args.offset_s,
        jitter_ms=args.jitter_ms,
        sync_rounds=args.sync_rounds,
        machine=describe_machine(ROOT),
        generated_at=datetime.now(UTC),
        levels=levels,
        waited_s=waited_s,
    )
    return finish(args, report, markdown)


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
    add_server_arguments(parser, given=False)
    return parser
