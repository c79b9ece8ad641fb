"""This server side by side with the stock pipecat reference bot: two harness reports and their ratio.

The ratio is this server's figure divided by stock pipecat's, for the same
files, repetitions, warm-up and concurrency in the same run: below 1 means
this server answers sooner.
"""

from __future__ import annotations

import msgspec

from benchmarks.lib.report import cpu_line, header_line, table, title_lines
from benchmarks.lib.stats import Summary
from benchmarks.voice.report import PARTS_HEADER, HarnessReport, part_cells
from benchmarks.voice.report import markdown as report_markdown

RATIO_NOTE = (
    "ratio = this server ÷ stock pipecat, same files, repetitions, warm-up and concurrency, measured one "
    "after the other in the same run (each server alone on the machine); below 1 means this server "
    "answers sooner"
)


class Ratio(msgspec.Struct, frozen=True, kw_only=True):
    ours_ms: float
    pipecat_ms: float
    ratio: float | None
    """`ours_ms / pipecat_ms`; None when stock pipecat's figure is not positive (its replies began
    before the speech had ended: the turn was cut early, so there is no time to compare)."""


class ClipRatio(msgspec.Struct, frozen=True, kw_only=True):
    clip: str
    p50: Ratio | None


class Comparison(msgspec.Struct, frozen=True, kw_only=True):
    concurrency: int
    voice_to_voice_p50: Ratio | None
    voice_to_voice_p90: Ratio | None
    per_clip_p50: list[ClipRatio]
    note: str = RATIO_NOTE


class SideBySide(msgspec.Struct, kw_only=True):
    """What `python -m benchmarks.voice --target both --json FILE` writes."""

    ours: HarnessReport
    pipecat: HarnessReport
    comparison: Comparison


def ratio(ours: float | None, pipecat: float | None) -> Ratio | None:
    if ours is None or pipecat is None:
        return None
    return Ratio(ours_ms=ours, pipecat_ms=pipecat, ratio=round(ours / pipecat, 3) if pipecat > 0 else None)


def compare(ours: HarnessReport, pipecat: HarnessReport) -> Comparison:
    theirs = {c.clip: c.voice_to_voice_ms for c in pipecat.per_clip}
    return Comparison(
        concurrency=ours.concurrency,
        voice_to_voice_p50=ratio(_p(ours.voice_to_voice_ms, "p50"), _p(pipecat.voice_to_voice_ms, "p50")),
        voice_to_voice_p90=ratio(_p(ours.voice_to_voice_ms, "p90"), _p(pipecat.voice_to_voice_ms, "p90")),
        per_clip_p50=[
            ClipRatio(clip=c.clip, p50=ratio(_p(c.voice_to_voice_ms, "p50"), _p(theirs.get(c.clip), "p50")))
            for c in ours.per_clip
        ],
    )


def side_by_side(ours: HarnessReport, pipecat: HarnessReport) -> SideBySide:
    return SideBySide(ours=ours, pipecat=pipecat, comparison=compare(ours, pipecat))


def markdown(both: SideBySide) -> str:
    c = both.comparison
    header = header_line(both.ours.machine, both.ours.generated_at, "both, one after the other")
    lines = [
        *title_lines("Voice-to-voice: this server and stock pipecat", both.ours.command, header),
        f"{both.ours.measured_turns} measured turns on each, {c.concurrency} device(s) talking at once.",
        "",
        *table(
            ["ms, end of speech → first reply audio", "this server", "stock pipecat", "ratio"],
            [
                ["**p50**", *_cells(c.voice_to_voice_p50)],
                ["p90", *_cells(c.voice_to_voice_p90)],
                *([f"{clip.clip} (p50)", *_cells(clip.p50)] for clip in c.per_clip_p50),
            ],
        ),
        "",
        *_parts(both),
        f"This server: {cpu_line(both.ours.cpu)}",
        "",
        f"Stock pipecat: {cpu_line(both.pipecat.cpu)}",
        "",
        f"- {c.note}",
        "",
        report_markdown(both.ours),
        "",
        report_markdown(both.pipecat),
    ]
    return "\n".join(lines)


def _parts(both: SideBySide) -> list[str]:
    """Talk-over, double answers and voice-to-voice per set of clips, the two bots row by row."""
    if not both.ours.parts:
        return []
    theirs = {p.part: p for p in both.pipecat.parts}
    rows = []
    for part in both.ours.parts:
        rows.append(part_cells(part, "this server, "))
        if part.part in theirs:
            rows.append(part_cells(theirs[part.part], "stock pipecat, "))
    return [*table(PARTS_HEADER, rows), ""]


def _cells(r: Ratio | None) -> list[str]:
    """This server's figure, stock pipecat's, and the ratio."""
    if r is None:
        return ["-", "-", "-"]
    if r.ratio is None:
        return [f"{r.ours_ms:g}", f"{r.pipecat_ms:g} (cut early)", "-"]
    return [f"{r.ours_ms:g}", f"{r.pipecat_ms:g}", f"{r.ratio:.2f}"]


def _p(summary: Summary | None, name: str) -> float | None:
    return None if summary is None else float(getattr(summary, name))
