"""Every benchmark in one command: each run as its own process, then the plots and one Markdown report.

    .venv/bin/python -m benchmarks --quick         # a few minutes: few repetitions, small steps
    .venv/bin/python -m benchmarks                 # the full run (an hour to an hour and a half)
    .venv/bin/python -m benchmarks --only idle,conversations --quick

Each benchmark writes its JSON into `--out` (default `benchmarks/results/`,
`benchmarks/results/quick/` with `--quick`, so a quick run never overwrites
the full results), its printed Markdown beside it (`<name>.md`) and its
stderr to `logs/<name>.log`. Then the PNG plots go to `<out>/plots/` and the
combined report to `<out>/REPORT.md`: the machine at the top, each section's
table with the exact command that produced it, and links to the plots. A
benchmark that fails (a non-zero exit, or no JSON written) is reported
loudly, the others still run, and this command exits 1. `run.json` in `--out`
keeps what each section last did, so `--only` re-runs refresh just those
sections of the report.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from benchmarks.combined_report import RunManifest, SectionRun, write_report
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT

RESULTS = ROOT / "benchmarks" / "results"
FIXTURES = "audio_fixtures"
QUICK_FILES = [
    f"{FIXTURES}/thank_you.wav",
    f"{FIXTURES}/hello_how_are_you.wav",
    f"{FIXTURES}/trivia_game.wav",
]
QUIET = ["--wait-quiet", "120"]
VOICE_TARGET = ["--target", "both"]
"""The voice harness measures this server, then the stock pipecat reference bot, and gives the ratio."""
CONVERSATION_TARGET = ["--target", "both"]
"""Both ladders, so the report can state the capacity ratio to stock pipecat (its ladder stops early)."""


@dataclass(frozen=True, kw_only=True)
class Section:
    name: str
    title: str
    module: list[str]
    """What follows the interpreter: `-m benchmarks.voice`, or pytest and its path."""
    quick: list[str]
    full: list[str]
    json_flag: str = "--json"
    markdown_from_json: bool = False
    """pytest-benchmark prints no Markdown: the report's table is made from its JSON."""

    def command(self, *, python: str, out: Path, quick: bool) -> list[str]:
        return [python, *self.module, *(self.quick if quick else self.full), self.json_flag, str(out)]


def _args(text: str) -> list[str]:
    return text.split()


SECTIONS = [
    Section(
        name="voice",
        title="Voice-to-voice, one conversation",
        module=_args("-m benchmarks.voice"),
        quick=[*VOICE_TARGET, *_args("--repetitions 1 --warmup 1 --markdown --files"), *QUICK_FILES],
        full=[*VOICE_TARGET, *_args("--repetitions 5 --warmup 2 --markdown"), *QUIET],
    ),
    Section(
        name="voice-c4",
        title="Voice-to-voice, four conversations at once",
        module=_args("-m benchmarks.voice"),
        quick=[*_args("--concurrency 4 --warmup 1 --markdown --files"), QUICK_FILES[0]],
        full=[*VOICE_TARGET, *_args("--concurrency 4 --repetitions 2 --warmup 1 --markdown"), *QUIET],
    ),
    Section(
        name="switch",
        title="Persona switch",
        module=_args("-m benchmarks.switch"),
        quick=_args("--switches 6 --warmup 1"),
        full=[*_args("--switches 100 --warmup 5"), *QUIET],
    ),
    Section(
        name="idle",
        title="Device capacity: silence",
        module=_args("-m benchmarks.idle"),
        quick=_args("--steps 0,1,50 --duration 5 --settle 2 --until-fails"),
        full=[*_args("--steps 0,1,50,100,200,300,400,500 --duration 30 --settle 10 --until-fails"), *QUIET],
    ),
    Section(
        name="idle-pipecat",
        title="Device capacity: silence, stock pipecat",
        module=_args("-m benchmarks.idle"),
        quick=_args("--target pipecat --steps 1,2 --duration 5 --settle 2 --until-fails"),
        full=[
            *_args("--target pipecat --steps 1,5,10,20,40 --duration 30 --settle 10 --until-fails"),
            *QUIET,
        ],
    ),
    Section(
        name="idle-speech",
        title="Device capacity: speech",
        module=_args("-m benchmarks.idle"),
        quick=_args("--speech --steps 1,2,4 --duration 15 --settle 3 --until-fails"),
        full=[*_args("--speech --steps 1,2,4,8,16 --duration 30 --settle 10 --until-fails"), *QUIET],
    ),
    Section(
        name="conversations",
        title="Simultaneous conversations (p95 ≤ 1.5 s)",
        module=_args("-m benchmarks.conversations"),
        quick=[*CONVERSATION_TARGET, *_args("--levels 1,2 --warmup 1 --files"), *QUICK_FILES[:2]],
        full=[*CONVERSATION_TARGET, *_args("--levels 1,2,4,6,8,10,12,16 --repetitions 1 --warmup 1"), *QUIET],
    ),
    Section(
        name="rest",
        title="REST control plane",
        module=_args("-m benchmarks.rest"),
        quick=_args("--endpoints state,health --duration 3 --warmup 1"),
        full=[*_args("--repeat 3"), *QUIET],
        json_flag="--output",
    ),
    Section(
        name="micro",
        title="Micro-benchmarks",
        module=_args("-m pytest benchmarks/micro -q -p no:cacheprovider"),
        quick=_args("--benchmark-max-time 0.2 --benchmark-min-rounds 3"),
        full=[],
        json_flag="--benchmark-json",
        markdown_from_json=True,
    ),
]


def run_section(section: Section, *, out: Path, quick: bool, python: str = sys.executable) -> SectionRun:
    """Run one benchmark as its own process; its stdout kept as Markdown, its stderr shown and logged."""
    json_path, markdown_path, log_path = (
        out / f"{section.name}.json",
        _markdown_path(out, section),
        _log(out, section),
    )
    for stale in (json_path, markdown_path):  # a failed run must not leave an older run's figures behind
        stale.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = section.command(python=python, out=json_path, quick=quick)
    print(f"\n=== {section.name}: {_shown(command)}", file=sys.stderr, flush=True)
    started, began = datetime.now(UTC), time.monotonic()
    stdout_path = log_path.with_suffix(".stdout.log") if section.markdown_from_json else markdown_path
    with stdout_path.open("w") as stdout, log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE, text=True, env=_env()
        )
        assert process.stderr is not None
        for line in process.stderr:  # shown as it comes (progress bars), and kept
            sys.stderr.write(line)
            log.write(line)
        exit_code = process.wait()
    failure = _failure(exit_code, json_path)
    return SectionRun(
        name=section.name,
        title=section.title,
        mode="quick" if quick else "full",
        command=_shown(command),
        json=json_path.name,
        markdown=markdown_path.name,
        log=str(log_path.relative_to(out)),
        exit_code=exit_code,
        ok=failure is None,
        failure=failure,
        started_at=started,
        seconds=round(time.monotonic() - began, 1),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    out: Path = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    sections = [s for s in SECTIONS if not args.only or s.name in args.only]
    manifest = _load_manifest(out)
    progress = Progress(len(sections), "benchmarks")
    this_run = []
    for section in sections:
        run = run_section(section, out=out, quick=args.quick)
        this_run.append(run)
        manifest.sections[run.name] = run
        _save_manifest(out, manifest)
        if not run.ok:
            print(f"\n!!! FAILED: {run.name}: {run.failure} (log: {out / run.log})", file=sys.stderr)
        progress.advance(f"{run.name} {'ok' if run.ok else 'FAILED'} ({run.seconds:g} s)")
    manifest.sections = {s.name: manifest.sections[s.name] for s in SECTIONS if s.name in manifest.sections}
    from_json = {s.name for s in SECTIONS if s.markdown_from_json}
    try:
        report = write_report(out, manifest, argv=_given(argv), table_from_json=from_json)
    except ImportError as error:
        print(f"\n!!! FAILED: no plots or report ({error}): pip install -e '.[bench]'", file=sys.stderr)
        return 1
    print(f"\nreport: {report}", file=sys.stderr)
    failed = [run for run in this_run if not run.ok]
    if failed:
        print("\n" + "!" * 72, file=sys.stderr)
        for run in failed:
            print(f"!!! FAILED: {run.name}: {run.failure}; see {out / run.log}", file=sys.stderr)
        print("!" * 72, file=sys.stderr)
        return 1
    return 0


def _failure(exit_code: int, json_path: Path) -> str | None:
    if exit_code != 0:
        return f"exited with {exit_code}"
    if not json_path.exists():
        return f"wrote no {json_path.name}"
    return None


def _markdown_path(out: Path, section: Section) -> Path:
    return out / f"{section.name}.md"


def _log(out: Path, section: Section) -> Path:
    return out / "logs" / f"{section.name}.log"


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def _shown(command: list[str]) -> str:
    """The command as a person would type it from the repository root."""
    shown = [_relative(part) for part in command]
    return shlex.join(shown)


def _relative(part: str) -> str:
    path = Path(part)
    if path.is_absolute() and path.is_relative_to(ROOT):
        return str(path.relative_to(ROOT))
    return part


def _load_manifest(out: Path) -> RunManifest:
    path = out / "run.json"
    if path.exists():
        try:
            return msgspec.json.decode(path.read_bytes(), type=RunManifest)
        except msgspec.DecodeError:
            print(f"ignoring an unreadable {path}", file=sys.stderr)
    return RunManifest(sections={})


def _save_manifest(out: Path, manifest: RunManifest) -> None:
    (out / "run.json").write_bytes(msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a few minutes: few repetitions, small steps")
    parser.add_argument(
        "--only",
        type=_names,
        help=f"comma-separated benchmarks to run, from {','.join(s.name for s in SECTIONS)} (default: all)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="directory for JSON, Markdown, plots and REPORT.md (default benchmarks/results)",
    )
    return parser


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in {s.name for s in SECTIONS}]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {unknown}; choose from {','.join(s.name for s in SECTIONS)}"
        )
    return names


def _given(argv: Sequence[str] | None) -> list[str]:
    return list(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
