"""The voice-to-voice report: percentiles of the measured turns per stage and per clip."""

from __future__ import annotations

import statistics
from datetime import datetime

import msgspec

from benchmarks.lib.machine import Machine
from benchmarks.lib.report import (
    SUMMARY_HEADER,
    cpu_line,
    header_line,
    pct,
    summary_cells,
    table,
    title_lines,
)
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import CpuWindow
from benchmarks.voice.config import HarnessConfig
from benchmarks.voice.turn import TurnResult

STAGES = ("turn_end", "transcript_final", "first_token", "first_audio", "first_byte_sent")
BUSY_MACHINE_PCT = 20.0
"""Other work above this share of a core during a run is called out in the report."""
ATTRIBUTION_NOTE = (
    "end of the turn: the clip's labelled `turn_end_s` (human clips), else the end of speech in the file "
    "(the last 10 ms frame above -45 dBFS), at the moment a device sending 20 ms frames captured it. "
    "Voice-to-voice runs to the first audio of the first reply that starts at or after it; reply audio "
    "received before it is talk-over (its seconds are what the person heard while still mid-turn); more "
    "than one reply to a clip is a double answer (`benchmarks.lib.attribution`); percentiles are of the "
    "turns answered after their end; with `--clips`, a clip with no reply at all within the reply timeout "
    "is counted as `no reply` instead of failing the run"
)
METHOD_NOTES = [
    "voice-to-voice: measured by the client, from the end of the turn to the arrival of the first "
    "`audio_response` carrying audio of the reply that answers it; loopback, so no network time",
    ATTRIBUTION_NOTE,
    "server stages: the `latency_ms` breakdown of each reply's final `audio_response`, counted from the "
    "speech end the server's VAD found (which can differ from the file's by a VAD window)",
    "percentiles interpolate linearly; with fewer than 100 turns p99 lies between the two slowest",
]
PIPECAT_NOTES = [
    "voice-to-voice (stock pipecat reference bot, `benchmarks.reference`): measured by the client as "
    "for this server, from the end of the turn to the arrival of the first protobuf "
    "`OutputAudioRawFrame` of the reply that answers it (a reply is the answer to one pipecat user "
    "turn); loopback, so no network time",
    ATTRIBUTION_NOTE,
    "the reply ends at RTVI `bot-stopped-speaking` followed by 1 s without audio; the transcript is "
    "RTVI `user-transcription`; the bot gives no per-stage breakdown",
    METHOD_NOTES[-1],
]
SESSION_NOTE = (
    "sessions: each set's speakers in device sessions of their own (a newly registered device; for stock "
    "pipecat a new connection), one speaker after another, each one's clips in manifest order; the "
    "warm-up turns in a session before them; clips without a speaker (the fixtures) in one session per set "
    "(`--session-per-speaker`, `benchmarks.voice.sessions`)"
)
TITLES = {"ours": "Voice-to-voice", "pipecat": "Voice-to-voice: stock pipecat reference bot"}


class ClipSummary(msgspec.Struct, kw_only=True):
    clip: str
    voice_to_voice_ms: Summary | None
    wer_median: float | None
    transcripts: list[str]
    """The distinct transcripts the server sent for this clip."""
    split_turns: int
    """Turns that got more than one `transcript` (the turn was cut in two)."""


class PartSummary(msgspec.Struct, kw_only=True):
    """What people notice, on one set of clips (`fixtures`, `human-dev`, `human-held-out`)."""

    part: str
    turns: int
    talked_over: int
    """Turns with reply audio received before the turn ended."""
    talk_over_s: Summary | None
    """Seconds of reply audio heard mid-turn, over the talked-over turns."""
    double_answers: int
    """Turns answered by more than one reply."""
    unanswered_after_end: int
    """Turns no reply started after (an early reply ran on, or none came): no voice-to-voice."""
    no_reply: int = 0
    """Turns with no reply audio at all within the reply timeout (counted with `--clips`)."""
    voice_to_voice_ms: Summary | None
    talked_over_clips: list[str]


class HarnessReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    server: str
    target: str = "ours"
    """`ours` (this server) or `pipecat` (the stock pipecat reference bot, `benchmarks.reference`)."""
    files: list[str]
    repetitions: int
    concurrency: int
    persona: str | None
    warmup_turns_per_device: int
    measured_turns: int
    voice_to_voice_ms: Summary | None
    server_stages_ms: dict[str, Summary]
    wer: Summary | None
    per_clip: list[ClipSummary]
    parts: list[PartSummary] = []
    """Talk-over, double answers and voice-to-voice per set of clips."""
    client_late_frames: int
    """Microphone frames the client sent more than 20 ms after their time (it did not keep real time)."""
    client_max_lateness_ms: float
    cpu: CpuWindow
    waited_for_quiet_s: float
    """How long the run waited for the machine to go quiet first (`--wait-quiet`)."""
    notes: list[str]
    turns: list[TurnResult]
    """Every turn, warm-up included (flagged)."""


def build_report(
    *,
    command: str,
    generated_at: datetime,
    machine: Machine,
    server: str,
    config: HarnessConfig,
    turns: list[TurnResult],
    late_frames: int,
    max_lateness_ms: float,
    cpu: CpuWindow,
    waited_for_quiet_s: float = 0.0,
) -> HarnessReport:
    notes = PIPECAT_NOTES if config.target == "pipecat" else METHOD_NOTES
    if config.session_per_speaker:
        notes = [*notes, SESSION_NOTE]
    measured = [t for t in turns if not t.warmup]
    stages = {
        stage: summary
        for stage in STAGES
        if (summary := summarize([t.server_ms[stage] for t in measured if stage in t.server_ms]))
    }
    return HarnessReport(
        command=command,
        generated_at=generated_at,
        machine=machine,
        server=server,
        target=config.target,
        files=[c.name for c in config.clips],
        repetitions=config.repetitions,
        concurrency=config.concurrency,
        persona=config.persona,
        warmup_turns_per_device=config.warmup,
        measured_turns=len(measured),
        voice_to_voice_ms=summarize([t.voice_to_voice_ms for t in measured if t.answered]),
        server_stages_ms=stages,
        wer=summarize([t.wer for t in measured if t.wer is not None]),
        per_clip=[_clip_summary(name, [t for t in measured if t.clip == name]) for name in _names(config)],
        parts=part_summaries(measured),
        client_late_frames=late_frames,
        client_max_lateness_ms=max_lateness_ms,
        cpu=cpu,
        waited_for_quiet_s=waited_for_quiet_s,
        notes=notes + _warnings(measured, late_frames, cpu),
        turns=turns,
    )


def part_summaries(measured: list[TurnResult]) -> list[PartSummary]:
    parts = list(dict.fromkeys(t.part for t in measured))
    return [part_summary(part, [t for t in measured if t.part == part]) for part in parts]


def part_summary(part: str, turns: list[TurnResult]) -> PartSummary:
    over = [t for t in turns if t.talk_over_s > 0]
    return PartSummary(
        part=part,
        turns=len(turns),
        talked_over=len(over),
        talk_over_s=summarize([t.talk_over_s for t in over]),
        double_answers=sum(t.replies > 1 for t in turns),
        unanswered_after_end=sum(not t.answered for t in turns),
        no_reply=sum(t.replies == 0 for t in turns),
        voice_to_voice_ms=summarize([t.voice_to_voice_ms for t in turns if t.answered]),
        talked_over_clips=list(dict.fromkeys(t.clip for t in over)),
    )


def _names(config: HarnessConfig) -> list[str]:
    return list(dict.fromkeys(c.name for c in config.clips))


def _clip_summary(name: str, turns: list[TurnResult]) -> ClipSummary:
    wers = [t.wer for t in turns if t.wer is not None]
    return ClipSummary(
        clip=name,
        voice_to_voice_ms=summarize([t.voice_to_voice_ms for t in turns if t.answered]),
        wer_median=round(statistics.median(wers), 3) if wers else None,
        transcripts=list(dict.fromkeys(t.transcript for t in turns)),
        split_turns=sum(t.transcripts > 1 for t in turns),
    )


def _warnings(measured: list[TurnResult], late_frames: int, cpu: CpuWindow) -> list[str]:
    warnings = []
    if late_frames:
        warnings.append(f"the client sent {late_frames} frame(s) over 20 ms late: it fell behind real time")
    if cpu.other_pct is not None and cpu.other_pct > BUSY_MACHINE_PCT:
        warnings.append(
            f"other work used {cpu.other_pct:g} % of a core during the run: the machine was not quiet"
        )
    early = [t for t in measured if t.talk_over_s > 0]
    if early:
        warnings.append(f"{len(early)} turns were talked over (reply audio before the turn had ended)")
    return warnings


def markdown(report: HarnessReport) -> str:
    header = header_line(report.machine, report.generated_at, report.server)
    lines = [
        *title_lines(TITLES.get(report.target, "Voice-to-voice"), report.command, header),
        f"{report.measured_turns} measured turns: {len(report.files)} files x {report.repetitions} "
        f"repetitions x {report.concurrency} device(s) talking at once; the first "
        f"{report.warmup_turns_per_device} turn(s) of each device excluded as warm-up. "
        f"Persona: {report.persona or 'the default'}.",
        "",
        *table(
            ["ms from the end of speech to", *SUMMARY_HEADER],
            [
                ["**first reply audio received** (client)", *summary_cells(report.voice_to_voice_ms)],
                *([f"{stage} (server)", *summary_cells(s)] for stage, s in report.server_stages_ms.items()),
            ],
        ),
        "",
        *parts_table(report.parts),
        *table(
            ["clip", "n", "voice-to-voice p50", "max", "WER (median)", "transcript"],
            (_clip_cells(c) for c in report.per_clip),
        ),
        "",
        cpu_line(report.cpu),
        "",
        *(f"- {note}" for note in report.notes),
    ]
    return "\n".join(lines)


PARTS_HEADER = [
    *("clips", "turns", "talked over", "reply audio sent mid-turn, s (p50 / max)", "double answers"),
    *("v2v p50", "p90", "p99", "max"),
]


def parts_table(parts: list[PartSummary], label: str = "") -> list[str]:
    """What people notice per set of clips, as a table and a blank line (nothing without parts)."""
    if not parts:
        return []
    return [*table(PARTS_HEADER, (part_cells(p, label) for p in parts)), ""]


def part_cells(p: PartSummary, label: str = "") -> list[str]:
    v, heard = p.voice_to_voice_ms, p.talk_over_s
    share = f" ({pct(p.talked_over, p.turns)})" if p.turns else ""
    over = f"{heard.p50:g} / {heard.max:g}" if heard else "-"
    ran_on = p.unanswered_after_end - p.no_reply
    late = f" ({ran_on} only before the end)" if ran_on else ""
    late += f" ({p.no_reply} no reply)" if p.no_reply else ""
    times = [f"{v.p50:g}", f"{v.p90:g}", f"{v.p99:g}", f"{v.max:g}"] if v else ["-"] * 4
    return [
        f"{label}{p.part}",
        str(p.turns),
        f"{p.talked_over}{share}",
        over,
        f"{p.double_answers}{late}",
        *times,
    ]


def _clip_cells(clip: ClipSummary) -> list[object]:
    s = clip.voice_to_voice_ms
    n, p50, worst = (s.n, f"{s.p50:g}", f"{s.max:g}") if s else (0, "-", "-")
    wer = f"{clip.wer_median:.2f}" if clip.wer_median is not None else "-"
    heard = " / ".join(f"“{t}”" for t in clip.transcripts[:2])
    split = f" ({clip.split_turns} split)" if clip.split_turns else ""
    return [clip.clip, n, p50, worst, f"{wer}{split}", heard]
