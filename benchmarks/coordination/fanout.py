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
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from benchmarks.lib.cli import command_line, ms, write_json
from benchmarks.lib.device import DeviceError, DeviceSocket, of_type, operator_client
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.report import SUMMARY_HEADER, header_line, summary_cells, table, title_lines
from benchmarks.lib.server_process import running_server
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import add_quiet_argument, wait_quiet

ROOT = Path(__file__).resolve().parents[2]
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


@contextmanager
def started_servers(args: argparse.Namespace) -> Iterator[tuple[list[str], str]]:
    """The servers' base URLs and an operator token: those given (`--url`, `--token`) or fresh ones."""
    if args.url:
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
        secret = secrets.token_urlsafe(48)
        servers = [
            stack.enter_context(
                running_server(extra_env={**env, "COMPANION_JWT_SECRET": secret}, cpu_prefix=[])
            )
            for _ in range(args.instances)
        ]
        yield [s.base_url for s in servers], servers[0].operator_token()


async def run_level(urls: list[str], token: str, *, devices: int, rounds: int, warmup: int) -> Level:
    group_id = f"bench-{secrets.token_hex(4)}"
    samples: dict[str, list[float]] = {
        k: []
        for k in ("start_spread", "start_request", "broadcast_spread", "broadcast_request", "stop_request")
    }
    async with operator_client(urls[0], token) as http:
        sockets = await _connect_fleet(http, urls, devices, group_id)
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


async def _connect_fleet(
    http: httpx.AsyncClient, urls: list[str], devices: int, group_id: str
) -> list[DeviceSocket]:
    sockets = []
    for n in range(devices):
        response = await http.post(
            "/devices", json={"name": f"bench-{n}", "device_type": "custom", "group_id": group_id}
        )
        _check(response, 201)
        body = response.json()
        url = urls[n % len(urls)]
        sockets.append(
            await DeviceSocket.connect(url, body["device_id"], body["auth_token"], sample_rate=None)
        )
    return sockets


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
    _check(response, 201)
    activity_id = response.json()["activity_id"]
    start_spread = await _spread(sockets, marks, event_type="group_activity_start")

    marks = [s.mark() for s in sockets]
    started = time.perf_counter()
    response = await http.post(
        "/coordination/broadcast",
        json={"event_type": "tea_time", "target_devices": ["all"], "group_id": group_id, "payload": {}},
    )
    broadcast_request = ms(time.perf_counter() - started)
    _check(response, 200)
    broadcast_spread = await _spread(sockets, marks, event_type="tea_time")

    started = time.perf_counter()
    stopped = await http.post(f"/coordination/activities/{activity_id}/stop")
    stop_request = [ms(time.perf_counter() - started)] if stopped.status_code != 404 else []
    if stopped.status_code != 404:
        _check(stopped, 200)
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


def _check(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise DeviceError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


def markdown(report: Report) -> str:
    backend = f"{report.backend}, {report.instances} instance{'s' if report.instances > 1 else ''}"
    lines = title_lines(
        f"Coordination fan-out ({backend})",
        report.command,
        header_line(report.machine, report.generated_at, f"{report.instances} server(s) started by the run"),
    )
    rows = []
    for level in report.levels:
        for name, summary in (
            ("start: sync_event spread", level.start_spread_ms),
            ("start: request", level.start_request_ms),
            ("broadcast: sync_event spread", level.broadcast_spread_ms),
            ("broadcast: request", level.broadcast_request_ms),
            ("stop: request", level.stop_request_ms),
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
                levels.append(
                    asyncio.run(
                        run_level(urls, token, devices=devices, rounds=args.rounds, warmup=args.warmup)
                    )
                )
                print(f"{devices} devices done", file=sys.stderr)
        except DeviceError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
    report = Report(
        command=command_line("benchmarks.coordination", argv),
        backend="redis" if args.redis_url else "memory" if not args.url else "given",
        instances=len(urls),
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
        prog="python -m benchmarks.coordination",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--devices", type=int, nargs="+", default=[3, 30, 100], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=10, help="measured rounds per size (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="rounds first, not counted (default 1)")
    parser.add_argument("--redis-url", help="run the servers on this Redis (default: the memory store)")
    parser.add_argument("--instances", type=int, default=1, help="servers to start (more than 1 needs Redis)")
    parser.add_argument("--url", action="append", help="a running server instead (repeat for more)")
    parser.add_argument("--token", help="an operator token for --url")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    add_quiet_argument(parser)
    return parser
