"""The turn-end thresholds moved over a grid, on pauses already judged: talk-over against waiting.

Every pause of `benchmarks.turn_ends.measure` keeps its Smart Turn probability and
speculative transcript, so the rule (`pipeline.graph.listen.judge_turn_end`)
can be re-judged for any `TurnParams` at no cost. For one setting and one set
of utterances:

- a clip is **talked over** when some pause inside its turn lasts longer than
  the silence the rule would wait there (`confident_silence_ms` when it judges
  the turn complete, `fallback_silence_ms` otherwise, at least
  `unfinished_silence_ms` when the transcript stops mid-sentence): the turn would end
  while the person was about to go on;
- the **wait** is, at the true end, the VAD's lag (its pause edge after the
  labelled end; 0 without labels) plus the silence the rule waits: the part of
  voice-to-voice the rule decides (p50 and p90 over the clips).
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import msgspec

from benchmarks.lib.report import table
from benchmarks.turn_ends.pauses import Pause
from pipeline.engines.turn import TurnPrediction
from pipeline.graph.listen import TurnParams, judge_turn_end, judge_unfinished

CONFIDENT_MS = (200, 250, 350, 500, 700)
FALLBACK_MS = (700, 950, 1200, 1500, 2000)


class Judged(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def pauses(self) -> list[Pause]: ...
    @property
    def turn_end_s(self) -> float | None: ...


class SweepPoint(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    confident_silence_ms: int
    fallback_silence_ms: int
    use_transcript: bool
    clips: int
    talked_over: int
    """Clips with a pause inside the turn longer than the rule waits there."""
    cut_pauses: int
    wait_p50_ms: float
    wait_p90_ms: float

    @property
    def talk_over_rate(self) -> float:
        return self.talked_over / self.clips if self.clips else 0.0


def grid(base: TurnParams) -> list[TurnParams]:
    return [
        replace(base, confident_silence_ms=c, fallback_silence_ms=f, use_transcript=t)
        for c, f, t in itertools.product(CONFIDENT_MS, FALLBACK_MS, (True, False))
        if f > c
    ]


def wait_s(params: TurnParams, pause: Pause) -> float:
    """The silence the rule waits at this pause before it ends the turn."""
    prediction = TurnPrediction(
        complete=pause.smart_turn > 0.5, probability=pause.smart_turn, inference_ms=0.0
    )
    rule = judge_turn_end(params, prediction, pause.transcript)
    if rule != "silence":
        return params.confident_silence_ms / 1000
    if judge_unfinished(params, prediction, pause.transcript):
        return max(params.fallback_silence_ms, params.unfinished_silence_ms) / 1000
    return params.fallback_silence_ms / 1000


def point(source: str, utterances: Sequence[Judged], params: TurnParams) -> SweepPoint:
    over = cuts = 0
    waits = []
    for utterance in utterances:
        inside = [p for p in utterance.pauses if not p.final and p.gap_s is not None]
        cut = sum(wait_s(params, p) < (p.gap_s or 0.0) for p in inside)
        cuts += cut
        over += cut > 0
        final = next((p for p in utterance.pauses if p.final), None)
        if final is not None:
            lag = final.at_s - utterance.turn_end_s if utterance.turn_end_s is not None else 0.0
            waits.append(1000 * (max(0.0, lag) + wait_s(params, final)))
    return SweepPoint(
        source=source,
        confident_silence_ms=params.confident_silence_ms,
        fallback_silence_ms=params.fallback_silence_ms,
        use_transcript=params.use_transcript,
        clips=len(utterances),
        talked_over=over,
        cut_pauses=cuts,
        wait_p50_ms=round(statistics.median(waits), 1) if waits else 0.0,
        wait_p90_ms=round(p90(waits), 1) if waits else 0.0,
    )


def sweep(utterances: Sequence[Judged], base: TurnParams | None = None) -> list[SweepPoint]:
    """Every grid point on every source set (in order of first appearance)."""
    base = base or TurnParams()
    sources = list(dict.fromkeys(u.source for u in utterances))
    return [
        point(source, [u for u in utterances if u.source == source], params)
        for source in sources
        for params in grid(base)
    ]


def frontier(points: Sequence[SweepPoint]) -> list[SweepPoint]:
    """The points no other beats on both talk-over and p50 wait, fastest first."""
    best: list[SweepPoint] = []
    for p in sorted(points, key=lambda p: (p.wait_p50_ms, p.talked_over)):
        if not best or p.talked_over < best[-1].talked_over:
            best.append(p)
    return best


def sweep_markdown(points: Sequence[SweepPoint], current: TurnParams) -> str:
    """Per set, a grid of confident (rows) by fallback (columns) silences with the transcript rule:
    clips talked over, and the wait after the true end (p50 / p90 ms); today's cell in bold."""
    lines = ["### Trade-off: talk-over against waiting, as the thresholds move", ""]
    fallbacks = sorted({p.fallback_silence_ms for p in points})
    for source in dict.fromkeys(p.source for p in points):
        mine = {
            (p.confident_silence_ms, p.fallback_silence_ms, p.use_transcript): p
            for p in points
            if p.source == source
        }
        lines += [
            f"**{source}**: clips talked over · wait after the end p50 / p90 ms (Smart Turn + transcript)",
            "",
            *table(
                ["confident \\ fallback", *(f"{f} ms" for f in fallbacks)],
                (
                    [f"{confident} ms", *(_cell(mine.get((confident, f, True)), current) for f in fallbacks)]
                    for confident in sorted({p.confident_silence_ms for p in points})
                ),
            ),
        ]
        alone = mine.get((current.confident_silence_ms, current.fallback_silence_ms, False))
        if alone is not None:
            lines += ["", f"Smart Turn alone at today's silences: {_cell(alone, current)}."]
        lines.append("")
    return "\n".join(lines)


def _cell(p: SweepPoint | None, current: TurnParams) -> str:
    if p is None:
        return "-"
    text = f"{p.talked_over}/{p.clips} · {p.wait_p50_ms:g} / {p.wait_p90_ms:g}"
    return f"**{text}**" if _is(p, current) else text


def _is(p: SweepPoint, params: TurnParams) -> bool:
    return (p.confident_silence_ms, p.fallback_silence_ms, p.use_transcript) == (
        params.confident_silence_ms,
        params.fallback_silence_ms,
        params.use_transcript,
    )


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = 0.9 * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
