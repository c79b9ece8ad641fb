"""Session changes on live devices: a handoff to the first reply audio on the target, and every change
to its application in the device's live loop.

Two devices (bedroom, kitchen) connect. Each round:

  1. `POST /sessions` on the device that has the resident (the change: session_started);
  2. one typed turn there, spoken in full;
  3. `POST /sessions/{id}/handoff` to the other device (handed_off_from + handed_off_to,
     `notify_user: false`); the moment its answer arrives, a typed turn on the target:
     **handoff → first reply audio** runs from sending the handoff to that turn's first
     audio chunk on the target (the REST call returns once both live loops applied it);
  4. `DELETE /sessions/{id}` (session_ended).

Client figures are request round trips: a change's REST call answers once the device's
live session has applied it, so each is change → applied, as an operator sees it. The
server's own figure (`GET /metrics/latency` `session_changes`: from the change reaching the
live session to its being applied) is reported beside them.

    .venv/bin/python -m benchmarks.live_changes --rounds 40
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec

from benchmarks.lib.cli import command_line, finish, ms
from benchmarks.lib.device import DeviceError, DeviceSocket, of_type, operator_client, register_device
from benchmarks.lib.progress import Progress
from benchmarks.lib.report import SUMMARY_HEADER, summary_cells, table
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import add_target_arguments, voice_target, wait_quiet

WAIT_S = 120.0
"""A whole reply, spoken in real time."""


class Report(msgspec.Struct, kw_only=True):
    command: str
    server: str
    rounds: int
    warmup: int
    client_ms: dict[str, Summary | None]
    server_ms: dict[str, Any]
    waited_s: float


async def run_rounds(
    base_url: str, token: str, *, rounds: int, warmup: int
) -> tuple[dict[str, list[float]], Any]:
    samples: dict[str, list[float]] = {
        "session_start_request": [],
        "handoff_request": [],
        "handoff_to_first_reply_audio": [],
        "session_end_request": [],
    }
    async with operator_client(base_url, token) as http:
        rooms = []
        for name in ("bedroom", "kitchen"):
            device_id, device_token = await register_device(http, name)
            rooms.append(await DeviceSocket.connect(base_url, device_id, device_token))
        progress = Progress(warmup + rounds, "round")
        try:
            for number in range(warmup + rounds):
                source, target = rooms[number % 2], rooms[(number + 1) % 2]
                figures = await _round(http, source, target)
                if number >= warmup:
                    for name, ms in figures.items():
                        samples[name].append(ms)
                progress.advance(f"handoff → audio {figures['handoff_to_first_reply_audio']:.0f} ms")
        finally:
            for device in rooms:
                await device.close()
        metrics = (await http.get("/metrics/latency")).json()
    return samples, metrics.get("session_changes", {})


async def _round(http: httpx.AsyncClient, source: DeviceSocket, target: DeviceSocket) -> dict[str, float]:
    started = time.perf_counter()
    created = await http.post("/sessions", json={"device_id": source.device_id, "persona_id": "storyteller"})
    session_start_ms = ms(time.perf_counter() - started)
    _check(created, 201)
    session_id = created.json()["session_id"]
    await _typed_turn(source, "Good evening.")

    since = target.mark()
    started = time.perf_counter()
    handoff = await http.post(
        f"/sessions/{session_id}/handoff",
        json={"from_device_id": source.device_id, "to_device_id": target.device_id, "notify_user": False},
    )
    handoff_ms = ms(time.perf_counter() - started)
    _check(handoff, 200)
    await target.send("text_input", {"text": "Thank you."})
    first = await target.wait_for(of_type("audio_response", final=False), since=since, timeout=WAIT_S)
    to_audio_ms = ms(first.at - started)
    final = await target.wait_for(of_type("audio_response", final=True), since=since, timeout=WAIT_S)
    if final.payload.get("persona_id") != "storyteller":
        raise DeviceError(f"the target answered as {final.payload.get('persona_id')!r}, not the session's")
    await target.wait_for(of_type("led_control", state="listening"), since=final.index, timeout=WAIT_S)

    started = time.perf_counter()
    ended = await http.delete(f"/sessions/{session_id}")
    session_end_ms = ms(time.perf_counter() - started)
    _check(ended, 200)
    return {
        "session_start_request": session_start_ms,
        "handoff_request": handoff_ms,
        "handoff_to_first_reply_audio": to_audio_ms,
        "session_end_request": session_end_ms,
    }


async def _typed_turn(device: DeviceSocket, text: str) -> None:
    since = device.mark()
    await device.send("text_input", {"text": text})
    final = await device.wait_for(of_type("audio_response", final=True), since=since, timeout=WAIT_S)
    await device.wait_for(of_type("led_control", state="listening"), since=final.index, timeout=WAIT_S)


def _check(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise DeviceError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )


def markdown(report: Report) -> str:
    lines = [
        "## Session changes on live devices",
        "",
        f"`{report.command}` — {report.server}; {report.rounds} rounds after {report.warmup} warm-up.",
        "",
        *table(
            ["client figure (ms)", *SUMMARY_HEADER],
            ([name, *summary_cells(summary)] for name, summary in report.client_ms.items()),
        ),
        "",
        "Server: change reaching the live session → applied (ms, every change of the run, warm-up included):",
        "",
        *table(
            ["change", "n", "p50", "p90", "p99"],
            (
                [kind, s["count"], f"{s['p50_ms']:g}", f"{s['p90_ms']:g}", f"{s['p99_ms']:g}"]
                for kind, s in sorted(report.server_ms.items())
            ),
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with voice_target(args) as target:
        waited_s = wait_quiet(args)
        try:
            samples, server_ms = asyncio.run(
                run_rounds(target.base_url, target.token, rounds=args.rounds, warmup=args.warmup)
            )
        except DeviceError as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
        report = Report(
            command=command_line("benchmarks.live_changes", argv),
            server=target.description,
            rounds=args.rounds,
            warmup=args.warmup,
            client_ms={name: summarize(values) for name, values in samples.items()},
            server_ms=server_ms,
            waited_s=waited_s,
        )
    return finish(args, report, markdown)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.live_changes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("--rounds", type=int, default=20, help="measured rounds (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="rounds made first, not counted (default 2)")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    return parser
