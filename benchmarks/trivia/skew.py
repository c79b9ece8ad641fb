"""Per-question skew of a trivia game: how far apart the devices get each question, and how early.

N devices of one group connect (split evenly over the instances) and one trivia game is started
for all of them (`--rounds` questions, the spec's example config otherwise). For every question
each device's `sync_event` `trivia_question` is timestamped as it arrives; once its `starts_at`
has come, every device answers by button (so the round ends as soon as all have answered), and the
next question follows the `trivia_result`. Per question:

- **spread**: the last device's arrival minus the first's (all devices live in this one client
  process, on one clock);
- **lead**: `starts_at` minus the last device's arrival (this machine's wall clock, the servers'
  too on loopback): how long before the moment it is to be said every device had the question
  (the server cues it `LEAD_S`, 1 s, ahead); a question some device got after `starts_at` is *late*;
- **starts_at**: whether every device was given the same instant (the spread of the instants).

p50 / p99 / max over the questions; beside them the pooled per-device arrival minus the question's
first (the figure `benchmarks.coordination` gives for the start). The servers run without the voice
models (nothing is said; the cue is what is measured) and with the rate limits off.

    .venv/bin/python -m benchmarks.trivia --devices 3 30 100
    .venv/bin/python -m benchmarks.trivia --devices 3 30 100 --redis-url redis://127.0.0.1:6379/0
    .venv/bin/python -m benchmarks.trivia --devices 3 30 100 --redis-url redis://... --instances 2
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

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
WAIT_S = 60.0
ANSWER_WINDOW_S = 60
"""Long, so a round ends when every device has answered, never on the window's clock."""


class Question(msgspec.Struct, kw_only=True):
    round: int
    spread_ms: float
    lead_ms: float
    """`starts_at` minus the last arrival: negative when some device got it late."""
    starts_at_spread_ms: float
    arrivals_ms: list[float]
    """Each device's arrival minus the question's first, in device order."""


class Level(msgspec.Struct, kw_only=True):
    devices: int
    rounds: int
    spread_ms: Summary | None
    lead_ms: Summary | None
    arrival_ms: Summary | None
    late: int
    """Questions some device got after their `starts_at`."""
    starts_at_disagreed: int
    """Questions whose devices were given different `starts_at` instants."""
    questions: list[Question]


class Report(msgspec.Struct, kw_only=True):
    command: str
    backend: str
    instances: int
    machine: Machine
    generated_at: datetime
    levels: list[Level]
    waited_s: float


def wall(perf: float) -> float:
    """A `time.perf_counter()` instant on the wall clock (seconds since the epoch)."""
    return perf + (time.time() - time.perf_counter())


async def run_level(urls: list[str], token: str, *, devices: int, rounds: int) -> Level:
    group_id = f"bench-{secrets.token_hex(4)}"
    questions: list[Question] = []
    async with operator_client(urls[0], token) as http:
        sockets = await connect_fleet(http, urls, devices, group_id)
        try:
            response = await http.post(
                "/coordination/group-activity",
                json={
                    "activity_type": "trivia",
                    "device_ids": [s.device_id for s in sockets],
                    "persona_id": "entertainer",
                    "config": {"difficulty": "easy", "rounds": rounds, "answer_window_s": ANSWER_WINDOW_S},
                },
            )
            check(response, 201)
            for number in range(1, rounds + 1):
                questions.append(await _question(sockets, number))
            await asyncio.gather(
                *(s.wait_for(of_type("sync_event", event_type="trivia_end"), timeout=WAIT_S) for s in sockets)
            )
        finally:
            await asyncio.gather(*(s.close() for s in sockets))
    pooled = [a for q in questions for a in q.arrivals_ms]
    return Level(
        devices=devices,
        rounds=rounds,
        spread_ms=summarize([q.spread_ms for q in questions]),
        lead_ms=summarize([q.lead_ms for q in questions]),
        arrival_ms=summarize(pooled),
        late=sum(q.lead_ms < 0 for q in questions),
        starts_at_disagreed=sum(q.starts_at_spread_ms > 0 for q in questions),
        questions=questions,
    )


async def _question(sockets: list[DeviceSocket], number: int) -> Question:
    """One question: its arrival on every device, then every device answers at `starts_at`."""
    asked = await asyncio.gather(
        *(
            s.wait_for(of_type("sync_event", event_type="trivia_question", round=number), timeout=WAIT_S)
            for s in sockets
        )
    )
    arrivals = [wall(a.at) for a in asked]
    starts = [datetime.fromisoformat(a.payload["starts_at"]).timestamp() for a in asked]
    first, last = min(arrivals), max(arrivals)
    starts_at = max(starts)
    # Answers are taken from `starts_at` on: each device presses the first option's button then.
    await asyncio.sleep(max(0.0, starts_at - time.time()) + 0.05)
    marks = [s.mark() for s in sockets]
    await asyncio.gather(
        *(
            s.send("button_press", {"button": a.payload["options"][0]["button"], "action": "press"})
            for s, a in zip(sockets, asked, strict=True)
        )
    )
    await asyncio.gather(
        *(
            s.wait_for(
                of_type("sync_event", event_type="trivia_result", round=number), since=m, timeout=WAIT_S
            )
            for s, m in zip(sockets, marks, strict=True)
        )
    )
    return Question(
        round=number,
        spread_ms=ms(last - first),
        lead_ms=ms(starts_at - last),
        starts_at_spread_ms=ms(max(starts) - min(starts)),
        arrivals_ms=[ms(a - first) for a in arrivals],
    )


def markdown(report: Report) -> str:
    lines = report_title("Trivia per-question skew", report)
    lines += figures_table(
        [
            (
                level.devices,
                [
                    ("question spread (last minus first arrival)", level.spread_ms),
                    ("lead (starts_at minus last arrival)", level.lead_ms),
                    ("device arrival minus question's first", level.arrival_ms),
                ],
            )
            for level in report.levels
        ]
    )
    lines += [
        "",
        *(
            f"- {level.devices} devices: {level.rounds} questions, {level.late} late (some device after "
            f"`starts_at`), {level.starts_at_disagreed} with differing `starts_at`"
            for level in report.levels
        ),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    async def level(urls: list[str], token: str, devices: int) -> Level:
        return await run_level(urls, token, devices=devices, rounds=args.rounds)

    run = run_levels(args, level)
    if run is None:
        return 1
    levels, instances, waited_s = run
    report = Report(
        command=command_line("benchmarks.trivia", argv),
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
        prog="python -m benchmarks.trivia",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--devices", type=int, nargs="+", default=[3, 30, 100], help="fleet sizes")
    parser.add_argument("--rounds", type=int, default=10, help="questions per game, 1-30 (default 10)")
    add_server_arguments(parser)
    return parser
