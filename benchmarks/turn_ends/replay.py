"""The turn-end rule replayed through whole sessions, with the silences learned from the speaker's pauses.

`benchmarks.turn_ends.sweep` judges every clip alone at fixed silences. A person
talks to a device for many turns, and the server learns their pauses as they
go (`pipeline.graph.pauses`, persona `adaptation_mode`). Here each speaker's
clips are one session, in manifest order (the human clips grouped by their
`speaker`; the fixtures, and each synthetic voice, one session each), and
every pause goes through the same `PauseModel` the server uses:

- at a pause inside the turn, the rule's verdict (Smart Turn and transcript,
  `judge_turn_end`, and `judge_unfinished` for a transcript that stops
  mid-sentence) picks the confident, the other or the unfinished silence; if the pause
  lasts longer, the turn is judged over there and the clip is **talked over**
  (the server then cuts and takes the turn back). Either way the speaker goes
  on, and the model learns the pause, with its verdict when the verdict
  came before the speech resumed (`VERDICT_S`: Smart Turn answers 60-180 ms
  into a pause), else as one that did not sound finished;
- at the true end, the **wait** is the VAD's lag after the labelled end plus
  the silence waited: the part of voice-to-voice the rule decides.

Offline, as the sweep: no Whisper or network time, every pause judged with
the transcript the server would have. `adaptive_grid` moves the model's
margin and first-turn silence, `unfinished_grid` the unfinished silence and
the Smart Turn probability under which it applies (0 ms: not used), for the
trade-off curve.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import replace

import msgspec

from audio_fixtures.human import load_human_manifest
from benchmarks.lib.report import table
from benchmarks.turn_ends.pauses import Pause, Utterance
from benchmarks.turn_ends.sweep import p90
from pipeline.engines.turn import TurnPrediction
from pipeline.graph.listen import TurnParams, judge_dangling, judge_turn_end, judge_unfinished
from pipeline.graph.pauses import AdaptationMode, PauseModel

VERDICT_S = 0.2
"""A pause shorter than this is learned without its verdict (it ended before the judge answered)."""
MARGINS_MS = (0, 50, 100, 200, 300)
FIRST_CONFIDENT_MS = (350, 600, 900)
UNFINISHED_MS = (0, 1000, 1200, 1500, 2000)
UNFINISHED_PROBABILITY = (0.5, 0.7, 0.8)


class ReplayPoint(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    mode: AdaptationMode
    margin_ms: int
    first_confident_silence_ms: int
    unfinished_silence_ms: int = 0
    """0: no unfinished verdict (reports from before it)."""
    unfinished_probability: float = 0.8
    sessions: int
    clips: int
    talked_over: int
    cut_pauses: int
    wait_p50_ms: float
    wait_p90_ms: float
    talked_over_clips: tuple[str, ...] = ()
    cue: str = ""
    """A candidate cue the rule was replayed with (`benchmarks.turn_ends.cues`); "" for the server's rule."""


Cue = Callable[[PauseModel, Pause, bool, float], float]
"""A candidate cue: (this speaker's model, the pause, sounds finished, the rule's silence) → the silence."""


def sessions_of(utterances: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    """One session per speaker, in order: a human clip's `speaker`, otherwise the clip's source."""
    speakers = {clip.name: clip.speaker for clip in load_human_manifest().clips}
    sessions: dict[str, list[Utterance]] = {}
    for utterance in utterances:
        who = speakers.get(utterance.name) if utterance.source.startswith("human") else None
        sessions.setdefault(f"{utterance.source} · {who or utterance.source}", []).append(utterance)
    return sessions


def replay(
    source: str,
    utterances: Sequence[Utterance],
    params: TurnParams,
    mode: AdaptationMode,
    cue: tuple[str, Cue] | None = None,
) -> ReplayPoint:
    """`utterances` of one set, each speaker's as one session, judged as the server would
    (with `cue`: as it would with that cue too)."""
    sessions = sessions_of(utterances)
    over = cuts = 0
    waits: list[float] = []
    names: list[str] = []
    for clips in sessions.values():
        model = PauseModel(
            confident_silence_ms=params.confident_silence_ms,
            fallback_silence_ms=params.fallback_silence_ms,
            unfinished_silence_ms=params.unfinished_silence_ms,
            dangling_silence_ms=params.dangling_silence_ms,
            mode=mode,
            params=params.pauses,
        )
        for utterance in clips:
            cut = 0
            for pause in utterance.pauses:
                confident, unfinished, dangling = _verdict(params, pause)
                silence_s = model.silence_s(confident=confident, unfinished=unfinished, dangling=dangling)
                if cue is not None:
                    silence_s = cue[1](model, pause, confident, silence_s)
                if pause.final:
                    lag = pause.at_s - utterance.turn_end_s if utterance.turn_end_s is not None else 0.0
                    waits.append(1000 * (max(0.0, lag) + silence_s))
                    model.turn_ended()
                    break
                if pause.gap_s is None:
                    continue
                if silence_s < pause.gap_s:
                    cut += 1
                    model.turn_ended()
                model.observe(pause.gap_s, confident=confident and pause.gap_s >= VERDICT_S)
            cuts += cut
            over += cut > 0
            if cut:
                names.append(utterance.name)
    pauses = params.pauses
    return ReplayPoint(
        source=source,
        mode=mode,
        margin_ms=pauses.margin_ms,
        first_confident_silence_ms=pauses.first_confident_silence_ms,
        unfinished_silence_ms=params.unfinished_silence_ms,
        unfinished_probability=params.unfinished_probability,
        sessions=len(sessions),
        clips=len(utterances),
        talked_over=over,
        cut_pauses=cuts,
        wait_p50_ms=round(statistics.median(waits), 1) if waits else 0.0,
        wait_p90_ms=round(p90(waits), 1) if waits else 0.0,
        talked_over_clips=tuple(names),
        cue=cue[0] if cue is not None else "",
    )


def adaptive_grid(base: TurnParams) -> list[TurnParams]:
    return [
        replace(base, pauses=msgspec.structs.replace(base.pauses, margin_ms=m, first_confident_silence_ms=f))
        for m, f in itertools.product(MARGINS_MS, FIRST_CONFIDENT_MS)
    ]


def unfinished_grid(base: TurnParams) -> list[TurnParams]:
    return [
        replace(base, unfinished_silence_ms=u, unfinished_probability=p)
        for u, p in itertools.product(UNFINISHED_MS, UNFINISHED_PROBABILITY)
    ]


def replay_all(utterances: Sequence[Utterance], base: TurnParams | None = None) -> list[ReplayPoint]:
    """Per set: static at today's silences, adaptive at today's settings, and both adaptive grids."""
    base = base or TurnParams()
    points = []
    for source in dict.fromkeys(u.source for u in utterances):
        mine = [u for u in utterances if u.source == source]
        points.append(replay(source, mine, base, "static"))
        grid = dict.fromkeys([*adaptive_grid(base), *unfinished_grid(base)])
        points += [replay(source, mine, params, "adaptive") for params in grid]
    return points


def replay_markdown(points: Sequence[ReplayPoint], current: TurnParams) -> str:
    """Static against adaptive per set, and the adaptive grids: clips talked over · wait p50 / p90."""
    sources = list(dict.fromkeys(p.source for p in points))
    without = replace(current, unfinished_silence_ms=0)
    lines = [
        "### Sessions replayed: fixed silences against silences learned from the speaker",
        "",
        *table(
            [
                "set",
                "sessions",
                "static (today's fixed silences)",
                "adaptive, no unfinished verdict",
                "adaptive (today's settings)",
            ],
            (
                [
                    source,
                    str(_find(points, source, "static", current).sessions),
                    _cell(_find(points, source, "static", current)),
                    _cell(_find(points, source, "adaptive", without)),
                    _cell(_find(points, source, "adaptive", current)),
                ]
                for source in sources
            ),
        ),
        "",
        *(
            f"- {source}, talked over (today's settings): "
            + (
                ", ".join(f"`{n}`" for n in _find(points, source, "adaptive", current).talked_over_clips)
                or "none"
            )
            for source in sources
        ),
        "",
        "Adaptive, as its settings move (rows: margin above the longest recent pause; columns: the "
        "confident silence before the speaker's first turn has ended):",
        "",
    ]
    for source in sources:
        lines += [f"**{source}**", "", *_margin_grid(points, source, current), ""]
    lines += [
        "The unfinished verdict, as it moves (rows: the least silence after a transcript that stops "
        "mid-sentence, 0: not used; columns: the Smart Turn probability under which it applies):",
        "",
    ]
    for source in sources:
        lines += [
            f"**{source}**",
            "",
            *table(
                ["unfinished \\ Smart Turn below", *(f"{p:g}" for p in UNFINISHED_PROBABILITY)],
                (
                    [
                        f"{u} ms",
                        *(
                            _cell(
                                _find(
                                    points,
                                    source,
                                    "adaptive",
                                    replace(current, unfinished_silence_ms=u, unfinished_probability=p),
                                )
                            )
                            for p in UNFINISHED_PROBABILITY
                        ),
                    ]
                    for u in UNFINISHED_MS
                ),
            ),
            "",
        ]
    return "\n".join(lines)


def _margin_grid(points: Sequence[ReplayPoint], source: str, current: TurnParams) -> list[str]:
    def at(m: int, f: int) -> TurnParams:
        return replace(
            current,
            pauses=msgspec.structs.replace(current.pauses, margin_ms=m, first_confident_silence_ms=f),
        )

    return table(
        ["margin \\ first turn", *(f"{f} ms" for f in FIRST_CONFIDENT_MS)],
        (
            [f"{m} ms", *(_cell(_find(points, source, "adaptive", at(m, f))) for f in FIRST_CONFIDENT_MS)]
            for m in MARGINS_MS
        ),
    )


def _verdict(params: TurnParams, pause: Pause) -> tuple[bool, bool, bool]:
    """Whether the turn sounds finished at this pause, whether it plainly goes on, and whether it
    stopped on a word no sentence ends on."""
    prediction = TurnPrediction(
        complete=pause.smart_turn > 0.5, probability=pause.smart_turn, inference_ms=0.0
    )
    confident = judge_turn_end(params, prediction, pause.transcript) != "silence"
    unfinished = not confident and judge_unfinished(params, prediction, pause.transcript)
    return confident, unfinished, unfinished and judge_dangling(params, prediction, pause.transcript)


def _key(p: ReplayPoint | TurnParams) -> tuple[int, int, int, float]:
    if isinstance(p, ReplayPoint):
        return (p.margin_ms, p.first_confident_silence_ms, p.unfinished_silence_ms, p.unfinished_probability)
    pauses = p.pauses
    return (
        pauses.margin_ms,
        pauses.first_confident_silence_ms,
        p.unfinished_silence_ms,
        p.unfinished_probability,
    )


def _find(points: Sequence[ReplayPoint], source: str, mode: str, params: TurnParams) -> ReplayPoint:
    return next(
        p
        for p in points
        if p.source == source and p.mode == mode and (mode == "static" or _key(p) == _key(params))
    )


def _cell(p: ReplayPoint) -> str:
    return f"{p.talked_over}/{p.clips} · {p.wait_p50_ms:g} / {p.wait_p90_ms:g}"
