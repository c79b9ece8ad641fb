"""Fan-out of a group activity's start and of a broadcast: how far apart in time the devices get it.

N devices of one group connect (split evenly over the instances). Each round:

  1. `POST /coordination/group-activity` for all N (trivia, the spec's example config); each
     device's `sync_event` (`group_activity_start`) is timestamped as it arrives;
  2. `POST /coordination/broadcast` `["all"]` with the group; each `sync_event` timestamped;
  3. `POST /coordination/activities/{id}/stop` (skipped when the server has no such endpoint).

**Spread** is each device's arrival minus the round's first arrival (all devices live in this one
client process, on one clock), pooled over the rounds: p50 / p99 / max. The request's round trip
is reported beside it. The servers run without the voice models (what is measured is the control
plane's fan-out, not speech) and with the rate limits off.

    .venv/bin/python -m benchmarks.coordination --devices 3 30 100
    .venv/bin/python -m benchmarks.coordination --devices 3 30 100 --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python -m benchmarks.coordination --devices 3 30 100 --redis-url redis://... --instances 2
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from benchmarks.lib.cli import command_line, finish, ms
from benchmarks.lib.device import DeviceSocket, of_type, operator_client
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
WAIT_S = 30.0


class Level(msgspec.Struct, kw_only=True):
    devices: int
    rounds: int
    start_spread_ms: Summary | None
    start_request_ms: Summary | None
    broadcast_spread_ms: Summary | None
    broadcast_request_ms: Summary | None
    stop_request_ms: Summary | None


class Report(msgspec.Struct, kw_only=True):
    command: str
    backend: str
    instances: int
    machine: Machine
    generated_at: datetime
    levels: list[Level]
    waited_s: float


async def run_level(urls: list[str], token: str, *, devices: int, rounds: int, warmup: int) -> Level:
    group_id = f"bench-{secrets.token_hex(4)}"
    samples: dict[str, list[float]] = {
        k: []
        for k in ("start_spread", "start_request", "broadcast_spread", "broadcast_request", "stop_request")
    }
    async with operator_client(urls[0], token) as http:
        sockets = await connect_fleet(http, urls, devices, group_id)
        try:
            for number in range(warmup + rounds):
                figures = await _round(http, sockets, group_id)
                if number >= warmup:
                    for name, values in figures.items():
                        samples[name] += values
        finally:
            await asyncio.gather(*(s.close() for s in sockets))
    return Level(
        devices=devices,
        rounds=rounds,
        start_spread_ms=summarize(samples["start_spread"]),
        start_request_ms=summarize(samples["start_request"]),
        broadcast_spread_ms=summarize(samples["broadcast_spread"]),
        broadcast_request_ms=summarize(samples["broadcast_request"]),
        stop_request_ms=summarize(samples["stop_request"]),
    )


async def _round(
    http: httpx.AsyncClient, sockets: list[DeviceSocket], group_id: str
) -> dict[str, list[float]]:
    marks = [s.mark() for s in sockets]
    started = time.perf_counter()
    response = await http.post(
        "/coordination/group-activity",
        json={
            "activity_type": "trivia",
            "device_ids": [s.device_id for s in sockets],
            "persona_id": "entertainer",
            "config": {"difficulty": "easy", "rounds": 10},
        },
    )
    start_request = ms(time.perf_counter() - started)
    check(response, 201)
    activity_id = response.json()["activity_id"]
    start_spread = await _spread(sockets, marks, event_type="group_activity_start")

    marks = [s.mark() for s in sockets]
    started = time.perf_counter()
    response = await http.post(
        "/coordination/broadcast",
        json={"event_type": "tea_time", "target_devices": ["all"], "group_id": group_id, "payload": {}},
    )
    broadcast_request = ms(time.perf_counter() - started)
    check(response, 200)
    broadcast_spread = await _spread(sockets, marks, event_type="tea_time")

    started = time.perf_counter()
    stopped = await http.post(f"/coordination/activities/{activity_id}/stop")
    stop_request = [ms(time.perf_counter() - started)] if stopped.status_code != 404 else []
    if stopped.status_code != 404:
        check(stopped, 200)
    return {
        "start_spread": start_spread,
        "start_request": [start_request],
        "broadcast_spread": broadcast_spread,
        "broadcast_request": [broadcast_request],
        "stop_request": stop_request,
    }


async def _spread(sockets: list[DeviceSocket], marks: list[int], *, event_type: str) -> list[float]:
    """Each device's arrival of the event, minus the first device's (ms)."""
    arrivals = await asyncio.gather(
        *(
            s.wait_for(of_type("sync_event", event_type=event_type), since=mark, timeout=WAIT_S)
            for s, mark in zip(sockets, marks, strict=True)
        )
    )
    first = min(a.at for a in arrivals)
    return [ms(a.at - first) for a in arrivals]


def markdown(report: Report) -> str:
    lines = report_title("Coordination fan-out", report)
    lines += figures_table(
        [
            (
                level.devices,
                [
                    ("start: sync_event spread", level.start_spread_ms),
                    ("start: request", level.start_request_ms),
                    ("broadcast: sync_event spread", level.broadcast_spread_ms),
                    ("broadcast: request", level.broadcast_request_ms),
                    ("stop: request", level.stop_request_ms),
                ],
            )
            for level in report.levels
        ]
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    async def level(urls: list[str], token: str, devices: int) -> Level:
        return await run_level(urls, token, devices=devices, rounds=args.rounds, warmup=args.warmup)

    run = run_levels(args, level)
    if run is None:
        return 1
    levels, instances, waited_s = run
    report = Report(
        command=command_line("benchmarks.coordination", argv),
        backend=backend_name(args),
        instances=instances,
        machine=describe_machine(ROOT),
        generated_at=datetime.now(UTC),
        levels=levels,
        waited_s=waited_s,
    )
    return finish(args, report, markdown)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.coordination",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--devices", type=int, nargs="+", default=[3, 30, 100], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds first, not counted (default 1)")
    add_server_arguments(parser)
    return parser
