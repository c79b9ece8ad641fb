"""The threshold sweep on pauses already judged: which clips a setting talks over, and how long it waits."""

from __future__ import annotations

from dataclasses import replace

import msgspec

from benchmarks.turn_ends.pauses import Pause, Utterance
from benchmarks.turn_ends.sweep import frontier, point, sweep, sweep_markdown, wait_s
from pipeline.graph.listen import TurnParams

TODAY = TurnParams()


def pause(at_s: float, gap_s: float | None, *, smart_turn: float = 0.1, text: str = "and then") -> Pause:
    return Pause(
        at_s=at_s,
        final=gap_s is None,
        gap_s=gap_s,
        smart_turn=smart_turn,
        transcript=text,
        rule_alone="silence",
        rule_with_transcript="silence",
    )


def slow_teller() -> Utterance:
    """A turn with a 1.2 s pause after a finished sentence, and the true end at 6.0 s."""
    return Utterance(
        name="slow",
        source="human-dev",
        text="I went to the market. And I bought apples.",
        pauses=[
            pause(2.0, 1.2, smart_turn=0.9, text="I went to the market."),
            pause(3.4, 0.3),
            pause(6.064, None, smart_turn=0.95, text="I went to the market. And I bought apples."),
        ],
        turn_end_s=6.0,
    )


def test_a_sure_pause_waits_the_short_silence_an_unsure_one_the_fallback_an_unfinished_one_longer() -> None:
    sure, unfinished = slow_teller().pauses[0], slow_teller().pauses[1]  # "and then": stops mid-sentence
    unsure = pause(3.4, 0.3, text="And I bought apples.")  # a finished sentence Smart Turn rates 0.1
    assert wait_s(TODAY, sure) == TODAY.confident_silence_ms / 1000
    assert wait_s(TODAY, unsure) == TODAY.fallback_silence_ms / 1000
    assert wait_s(TODAY, unfinished) == TODAY.unfinished_silence_ms / 1000


def test_a_pause_longer_than_the_wait_talks_the_clip_over_and_the_wait_counts_the_vad_lag() -> None:
    found = point("human-dev", [slow_teller()], TODAY)
    assert (found.clips, found.talked_over, found.cut_pauses) == (1, 1, 1)
    assert found.wait_p50_ms == 64 + TODAY.confident_silence_ms  # VAD edge 64 ms after the label
    patient = replace(TODAY, confident_silence_ms=1300, fallback_silence_ms=2000)
    assert point("human-dev", [slow_teller()], patient).talked_over == 0


def test_the_sweep_covers_every_set_and_the_frontier_trades_waiting_for_talk_over() -> None:
    quick = Utterance(name="q", source="fixture", text="Hi.", pauses=[pause(1.0, None, smart_turn=0.9)])
    unsure = slow_teller()
    unsure = msgspec.structs.replace(
        unsure, pauses=[pause(2.0, 1.2), *unsure.pauses[1:]]
    )  # a hesitation, not a sentence end
    points = sweep([unsure, quick])
    assert {p.source for p in points} == {"human-dev", "fixture"}
    best = frontier([p for p in points if p.source == "human-dev"])
    assert [p.wait_p50_ms for p in best] == sorted(p.wait_p50_ms for p in best)
    assert best[-1].talked_over == 0
    # Today's cell, bold: the hesitation ("and then", no final punctuation) waits the unfinished 1.2 s.
    assert "**0/1 · 414 / 414**" in sweep_markdown(points, TODAY)
