"""The conversation capacity report: voice-to-voice percentiles per number of simultaneous conversations."""

from __future__ import annotations

import statistics
from datetime import datetime

import msgspec

from benchmarks.lib.machine import Machine
from benchmarks.lib.report import capacity_ratio, cpu_line, header_line, table, title_lines
from benchmarks.lib.stats import Tail, tail
from benchmarks.lib.targets import TARGET_NAMES, CpuWindow
from benchmarks.voice.report import STAGES
from benchmarks.voice.turn import TurnResult

WITHIN = "within the limit"


class Level(msgspec.Struct, kw_only=True):
    """One level: `conversations` devices talking at once, each turn started together."""

    conversations: int
    measured_turns: int
    warmup_turns: int
    voice_to_voice_ms: Tail | None
    """Over the measured turns of every device."""
    server_stages_p50_ms: dict[str, float]
    """The median of each of the server's stages (ms from the speech end its VAD found)."""
    cpu: CpuWindow | None
    """None when the level broke before its window could be read."""
    client_late_frames: int
    within_limit: bool
    verdict: str
    turns: list[TurnResult]
    """Every turn, warm-up included (flagged); empty when the level failed."""


class ConversationReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    server: str
    target: str
    """Which server answered: `ours` (this server) or `pipecat` (the stock pipecat reference bot)."""
    files: list[str]
    repetitions: int
    warmup_turns_per_device: int
    p95_limit_ms: float
    levels_planned: list[int]
    levels: list[Level]
    capacity: int | None
    """The largest level whose p95 (and every lower level's) was within the limit; None if none was."""
    answer: str
    waited_for_quiet_s: float
    notes: list[str]


def level_of(
    *, conversations: int, turns: list[TurnResult], cpu: CpuWindow, late_frames: int, limit_ms: float
) -> Level:
    measured = [t for t in turns if not t.warmup]
    summary = tail([t.voice_to_voice_ms for t in measured])
    stages = {
        stage: round(statistics.median(values), 1)
        for stage in STAGES
        if (values := [t.server_ms[stage] for t in measured if stage in t.server_ms])
    }
    if summary is None:
        within, verdict = False, "FAILED: no measured turn (every turn was a warm-up)"
    elif summary.p95 <= limit_ms:
        within, verdict = True, WITHIN
    else:
        within, verdict = False, f"p95 {summary.p95:g} ms over the {limit_ms:g} ms limit"
    return Level(
        conversations=conversations,
        measured_turns=len(measured),
        warmup_turns=len(turns) - len(measured),
        voice_to_voice_ms=summary,
        server_stages_p50_ms=stages,
        cpu=cpu,
        client_late_frames=late_frames,
        within_limit=within,
        verdict=verdict,
        turns=turns,
    )


def failed_level(*, conversations: int, cpu: CpuWindow | None, error: str) -> Level:
    """A level that could not be measured (e.g. a reply with no audio within the timeout)."""
    return Level(
        conversations=conversations,
        measured_turns=0,
        warmup_turns=0,
        voice_to_voice_ms=None,
        server_stages_p50_ms={},
        cpu=cpu,
        client_late_frames=0,
        within_limit=False,
        verdict=f"FAILED: {error}",
        turns=[],
    )


def capacity_of(levels: list[Level], planned: list[int], limit_ms: float) -> tuple[int | None, str]:
    """The largest level reached with every level up to it within the limit, and the answer in words."""
    capacity = None
    for level in levels:
        if not level.within_limit:
            break
        capacity = level.conversations
    stopped = next((level for level in levels if not level.within_limit), None)
    if stopped is None:
        top = levels[-1].conversations if levels else 0
        more = " (every level measured was within it: the true capacity may be higher)"
        return capacity, f"at least {top} simultaneous conversations keep p95 ≤ {limit_ms:g} ms{more}"
    if capacity is None:
        return None, f"not even {stopped.conversations} conversation(s): {stopped.verdict}"
    return capacity, (
        f"{capacity} simultaneous conversations keep p95 ≤ {limit_ms:g} ms; "
        f"at {stopped.conversations}: {stopped.verdict}"
    )


def capacity_comparison(ours: ConversationReport, pipecat: ConversationReport) -> str:
    """This server's conversation capacity beside stock pipecat's, as a ratio when both are measured."""
    return capacity_ratio(
        f"simultaneous conversations within p95 ≤ {ours.p95_limit_ms:g} ms",
        ours.capacity,
        pipecat.capacity,
        ours_never_failed=all(level.within_limit for level in ours.levels),
        pipecat_never_failed=all(level.within_limit for level in pipecat.levels),
    )


def markdown(report: ConversationReport) -> str:
    title = "Simultaneous conversations" + ("" if report.target == "ours" else f": {report.target}")
    header = header_line(report.machine, report.generated_at, report.server)
    lines = [
        *title_lines(title, report.command, header),
        f"At each level N devices ({TARGET_NAMES.get(report.target, report.target)}) start every turn "
        "together: "
        f"{len(report.files)} files x {report.repetitions} repetition(s) per device, the first "
        f"{report.warmup_turns_per_device} turn(s) of each device excluded as warm-up. Levels planned: "
        f"{', '.join(map(str, report.levels_planned))}; the run stops after the first level whose "
        f"voice-to-voice p95 exceeds {report.p95_limit_ms:g} ms.",
        "",
        f"**Answer: {report.answer}.**",
        "",
        *table(
            [
                *("conversations", "turns (warm-up)", "p50", "p90", "p95", "p99", "max"),
                *("server CPU %", "other CPU %", "late frames", "verdict"),
            ],
            (_cells(level) for level in report.levels),
        ),
        "",
        _stages_table(report.levels),
        "",
        *(_cpu(level) for level in report.levels if level.cpu is not None),
        "",
        *(f"- {note}" for note in report.notes),
    ]
    return "\n".join(lines)


def _cells(level: Level) -> list[object]:
    s = level.voice_to_voice_ms
    figures = [f"{s.p50:g}", f"{s.p90:g}", f"{s.p95:g}", f"{s.p99:g}", f"{s.max:g}"] if s else ["-"] * 5
    verdict = level.verdict if level.within_limit else f"**{level.verdict}**"
    cpu = level.cpu
    return [
        level.conversations,
        f"{level.measured_turns} ({level.warmup_turns})",
        *figures,
        _pct(cpu.server_pct if cpu else None),
        _pct(cpu.other_pct if cpu else None),
        level.client_late_frames,
        verdict,
    ]


def _stages_table(levels: list[Level]) -> str:
    rows = [
        [level.conversations, *(_stage(level, stage) for stage in STAGES)]
        for level in levels
        if level.server_stages_p50_ms
    ]
    if not rows:
        return "No per-stage breakdown: the server sent none (the stock pipecat bot gives none)."
    return "\n".join(
        [
            "Server stages, median ms from the speech end its VAD found:",
            "",
            *table(["conversations", *STAGES], rows),
        ]
    )


def _stage(level: Level, stage: str) -> str:
    return f"{level.server_stages_p50_ms[stage]:g}" if stage in level.server_stages_p50_ms else "-"


def _cpu(level: Level) -> str:
    assert level.cpu is not None
    line = cpu_line(level.cpu).replace("CPU over the run", f"CPU at {level.conversations} conversation(s)")
    return f"- {line}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"
