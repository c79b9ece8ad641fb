"""Other cues for the end of a turn, replayed through the same sessions: what each would buy, and cost.

The server's rule (`pipeline.graph.listen`) uses Smart Turn, the speculative
transcript (finished sentence, question, request; a sentence stopped midway:
`judge_unfinished`) and the speaker's learned pauses (`pipeline.graph.pauses`).
These cues were tried on top of it, on the same measured pauses, with
`benchmarks.turn_ends.replay` (each speaker's clips one session); none is in
the server, and this table is why:

- **the turn so far is long** (words in the speculative transcript): a person
  telling something at length gets more time after a finished sentence;
- **a multiple of the learned pause**: a speaker who went on after a
  finished-sounding pause of d seconds is given `k * d`, not d + 100 ms (pause
  lengths spread in proportion to their typical length);
- **a stricter Smart Turn**: "sounds finished" only from a higher probability
  (`TurnParams.confident_probability`).

The speaker's articulation rate (words per voiced second) needs the voiced
time, which the measurement does not keep; on the human clips it is read from
the labels instead (`articulation_rates`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from audio_fixtures.human import load_human_manifest
from benchmarks.lib.report import table
from benchmarks.turn_ends.pauses import Pause, Utterance
from benchmarks.turn_ends.replay import Cue, ReplayPoint, replay
from pipeline.graph.listen import TurnParams
from pipeline.graph.pauses import PauseModel

_WORD = re.compile(r"[A-Za-z0-9']+")


def long_turn(words: int, silence_s: float) -> Cue:
    def cue(model: PauseModel, pause: Pause, confident: bool, rule_s: float) -> float:
        if confident and len(_WORD.findall(pause.transcript)) >= words:
            return max(rule_s, silence_s)
        return rule_s

    return cue


def pause_multiple(k: float) -> Cue:
    def cue(model: PauseModel, pause: Pause, confident: bool, rule_s: float) -> float:
        finished = model.profile.finished
        if confident and finished:
            return max(rule_s, k * max(p.seconds for p in finished))
        return rule_s

    return cue


CUES: tuple[tuple[str, Cue], ...] = (
    *(
        (f"turn so far ≥ {w} words: finished-sounding waits ≥ {s:g} s", long_turn(w, s))
        for w, s in ((8, 1.0), (8, 1.4), (15, 1.0), (15, 1.4), (25, 1.4))
    ),
    *(
        (f"finished-sounding waits {k:g} times the longest learned such pause", pause_multiple(k))
        for k in (2, 2.6)
    ),
)
STRICTER = (0.9, 0.95, 0.99)


def replay_cues(utterances: Sequence[Utterance], base: TurnParams | None = None) -> list[ReplayPoint]:
    """Per set: the server's rule (adaptive), each cue on top of it, and stricter Smart Turn thresholds."""
    base = base or TurnParams()
    points = []
    for source in dict.fromkeys(u.source for u in utterances):
        mine = [u for u in utterances if u.source == source]
        points.append(replay(source, mine, base, "adaptive"))
        points += [replay(source, mine, base, "adaptive", cue) for cue in CUES]
        points += [
            replay(
                source,
                mine,
                replace(base, confident_probability=p),
                "adaptive",
                (f"Smart Turn sounds finished from {p:g}", lambda m, x, c, s: s),
            )
            for p in STRICTER
        ]
    return points


def cues_markdown(points: Sequence[ReplayPoint]) -> str:
    """Rows: the rule, then each cue; columns: the sets (clips talked over · wait p50 / p90 ms)."""
    sources = list(dict.fromkeys(p.source for p in points))
    cues = list(dict.fromkeys(p.cue for p in points))
    cell = {
        (p.source, p.cue): f"{p.talked_over}/{p.clips} · {p.wait_p50_ms:g} / {p.wait_p90_ms:g}"
        for p in points
    }
    return "\n".join(
        [
            "### Other cues, replayed on top of the server's rule",
            "",
            *table(
                ["cue", *sources],
                ([cue or "the server's rule (adaptive)", *(cell[(s, cue)] for s in sources)] for cue in cues),
            ),
        ]
    )


def articulation_rates() -> list[tuple[str, float, float]]:
    """Per human clip, from its labels: words per voiced second, and its longest pause inside the turn."""
    rates = []
    for clip in load_human_manifest().clips:
        pauses = [p.end_s - p.start_s for p in clip.pauses]
        voiced = clip.turn_end_s - clip.speech_start_s - sum(pauses)
        rates.append((clip.name, len(_WORD.findall(clip.transcript)) / voiced, max(pauses, default=0.0)))
    return rates


def rates_markdown() -> str:
    return "\n".join(
        [
            "Articulation rate on the human clips (from the labels: words / voiced seconds):",
            "",
            *table(
                ["clip", "words per voiced second", "longest pause inside the turn"],
                ([name, f"{rate:.1f}", f"{longest:.2f} s"] for name, rate, longest in articulation_rates()),
            ),
        ]
    )
