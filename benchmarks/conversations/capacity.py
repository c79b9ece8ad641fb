"""Conversation capacity: how many simultaneous conversations keep voice-to-voice p95 within 1.5 s.

One server (started here, or `--url`/`--token`) is driven by the voice
harness at increasing levels (`--levels`, default 1,2,4,6,8,10,12,16): at
level N, N devices register, connect and say their turns together (each
device the fixtures in a rotated order, `--repetitions` times, after
`--warmup` excluded turns). Every turn is timed as in
`benchmarks.voice.harness`: from the end of speech in the file to the first
reply audio received. The run stops after the first level whose p95 exceeds
`--p95-limit-ms` (or whose replies do not come at all); the answer is the
largest level up to which every level was within the limit. `--target
pipecat` climbs the same levels with the stock pipecat reference bot
(`benchmarks.reference`), `--target both` with each in turn (the JSON then
holds `{"ours": …, "pipecat": …}`).

    .venv/bin/python -m benchmarks.conversations                # 1, 2, 4, … until p95 > 1.5 s
    .venv/bin/python -m benchmarks.conversations --levels 1,2 --files audio_fixtures/thank_you.wav
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from benchmarks.conversations.report import (
    ConversationReport,
    Level,
    capacity_comparison,
    capacity_of,
    failed_level,
    level_of,
    markdown,
)
from benchmarks.lib.clips import Clip, load_clips
from benchmarks.lib.device import DeviceError
from benchmarks.lib.machine import VOICE_PACKAGES, describe_machine
from benchmarks.lib.server_process import ROOT
from benchmarks.lib.targets import (
    Target,
    TargetKind,
    add_reference_arguments,
    add_target_arguments,
    cpu_mark,
    cpu_since,
    target_kinds,
    voice_target,
    wait_quiet,
)
from benchmarks.voice.config import HarnessConfig
from benchmarks.voice.harness import run_harness
from benchmarks.voice.report import METHOD_NOTES
from benchmarks.voice.turn import NoAudioError

DEFAULT_LEVELS = [1, 2, 4, 6, 8, 10, 12, 16]


def harness_config(
    args: argparse.Namespace, target: Target, clips: list[Clip], conversations: int
) -> HarnessConfig:
    """The harness run for one level: the single place where the benchmark's options reach the harness."""
    return HarnessConfig(
        base_url=target.base_url,
        token=target.token,
        clips=clips,
        repetitions=args.repetitions,
        concurrency=conversations,
        persona=args.persona,
        warmup=args.warmup,
        reply_timeout_s=args.reply_timeout,
        target=target.kind,
    )


def measure_levels(
    args: argparse.Namespace,
    target: Target,
    clips: list[Clip],
    report: ConversationReport,
    save: Callable[[], None],
) -> str | None:
    """Measure each level in turn into `report`, stopping after the first one over the limit.

    Returns why the benchmark itself broke (a device could not connect, …), or None: a level whose
    replies bring no audio in time is a finding (the server is overloaded), not a broken run.
    """
    for number, conversations in enumerate(args.levels, start=1):
        print(
            f"\n{target.kind}, level {number}/{len(args.levels)}: {conversations} conversation(s) at once",
            file=sys.stderr,
        )
        report.waited_for_quiet_s += wait_quiet(args)
        try:
            level = _measure_level(args, target, clips, conversations)
        except DeviceError as error:
            report.levels.append(failed_level(conversations=conversations, cpu=None, error=str(error)))
            report.capacity, report.answer = capacity_of(report.levels, args.levels, args.p95_limit_ms)
            return str(error)
        report.levels.append(level)
        report.capacity, report.answer = capacity_of(report.levels, args.levels, args.p95_limit_ms)
        save()  # after every level, so an interrupted run keeps what it measured
        print(f"{conversations} conversation(s): {level.verdict}", file=sys.stderr)
        if not level.within_limit:
            break
    return None


def _measure_level(args: argparse.Namespace, target: Target, clips: list[Clip], conversations: int) -> Level:
    mark = cpu_mark(target.pid)
    try:
        turns, devices = asyncio.run(run_harness(harness_config(args, target, clips, conversations)))
    except NoAudioError as error:
        return failed_level(conversations=conversations, cpu=cpu_since(mark, target.pid), error=str(error))
    return level_of(
        conversations=conversations,
        turns=turns,
        cpu=cpu_since(mark, target.pid),
        late_frames=sum(d.late_frames for d in devices),
        limit_ms=args.p95_limit_ms,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.persona and args.target != "ours":
        raise SystemExit("--persona applies to this server only: the pipecat bot has the default persona")
    clips = load_clips(args.files)
    reports: dict[TargetKind, ConversationReport] = {}

    def save() -> None:
        _write(reports, args.json)

    broken = None
    for kind in target_kinds(args):
        with voice_target(args, kind=kind) as target:
            reports[kind] = _empty_report(args, target, clips, argv)
            broken = measure_levels(args, target, clips, reports[kind], save)
        if broken is not None:
            break
    save()
    print("\n\n".join(markdown(report) for report in reports.values()))
    if "ours" in reports and "pipecat" in reports:
        print("\n" + capacity_comparison(reports["ours"], reports["pipecat"]))
    if broken is not None:
        print(f"\nFAILED: {broken}", file=sys.stderr)
        return 1
    for kind, report in reports.items():
        if not report.levels or report.levels[0].verdict.startswith("FAILED"):
            print(f"\nFAILED ({kind}): the first level could not be measured", file=sys.stderr)
            return 1
    return 0


def _empty_report(
    args: argparse.Namespace, target: Target, clips: list[Clip], argv: Sequence[str] | None
) -> ConversationReport:
    return ConversationReport(
        command=shlex.join([".venv/bin/python", "-m", "benchmarks.conversations", *_given(argv)]),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        server=target.description,
        target=target.kind,
        files=[c.name for c in clips],
        repetitions=args.repetitions,
        warmup_turns_per_device=args.warmup,
        p95_limit_ms=args.p95_limit_ms,
        levels_planned=args.levels,
        levels=[],
        capacity=None,
        answer="not measured",
        waited_for_quiet_s=0.0,
        notes=[
            *METHOD_NOTES,
            "each level registers and connects its own devices; a level's server CPU is over the whole "
            "level, warm-up turns included",
            "a level whose replies bring no audio within the reply timeout counts as over the limit",
        ],
    )


def _write(reports: dict[TargetKind, ConversationReport], path: Path | None) -> None:
    """One target's report, or `{"ours": …, "pipecat": …}` for both."""
    if path is None or not reports:
        return
    document = next(iter(reports.values())) if len(reports) == 1 else reports
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(document), indent=2) + b"\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.conversations",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    add_reference_arguments(parser)
    parser.add_argument(
        "--levels",
        type=_levels,
        default=DEFAULT_LEVELS,
        help="simultaneous conversations to try, increasing (default 1,2,4,6,8,10,12,16)",
    )
    parser.add_argument(
        "--p95-limit-ms", type=float, default=1500.0, help="voice-to-voice p95 to stay within (default 1500)"
    )
    parser.add_argument("--files", nargs="+", type=Path, help="WAV files (default: every audio fixture)")
    parser.add_argument("--repetitions", type=int, default=1, help="times each device says each file")
    parser.add_argument("--warmup", type=int, default=1, help="turns per device said first and excluded")
    parser.add_argument("--persona", help="persona the devices talk to (default: the server's default)")
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=15.0,
        help="seconds from the end of an utterance to the first reply audio; later fails the level",
    )
    parser.add_argument("--json", type=Path, help="write the report (every turn) as JSON here")
    return parser


def _levels(text: str) -> list[int]:
    levels = [int(part) for part in text.split(",") if part.strip()]
    if not levels or levels[0] < 1 or levels != sorted(set(levels)):
        raise argparse.ArgumentTypeError("increasing counts from 1, e.g. 1,2,4,8")
    return levels


def _given(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)
