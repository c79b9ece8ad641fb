"""Sessions replayed through the server's pause model: what learning a speaker's pauses changes."""

from __future__ import annotations

from dataclasses import replace

import msgspec

from benchmarks.turn_ends.pauses import Utterance
from benchmarks.turn_ends.replay import replay, replay_all, replay_markdown, sessions_of
from pipeline.graph.listen import TurnParams
from tests.benchmarks.test_turn_sweep import pause, slow_teller

TODAY = TurnParams()


def told(name: str) -> Utterance:
    return msgspec.structs.replace(slow_teller(), name=name, source="fixture")


def test_a_speaker_who_stops_long_between_sentences_is_talked_over_once_then_given_the_time() -> None:
    clips = [told(f"story-{n}") for n in range(4)]
    static = replay("fixture", clips, TODAY, "static")
    adaptive = replay("fixture", clips, TODAY, "adaptive")

    assert (static.talked_over, adaptive.talked_over) == (4, 1)
    # Waiting more at the end is the price: the learned 1.2 s pause plus the margin, and the VAD's lag.
    assert adaptive.wait_p50_ms == 64 + 1200 + TODAY.pauses.margin_ms
    assert static.wait_p50_ms == 64 + TODAY.confident_silence_ms


def test_a_brisk_speaker_is_answered_sooner_when_the_turn_does_not_sound_finished() -> None:
    brisk = Utterance(
        name="brisk",
        source="fixture",
        text="Press one, press two",
        pauses=[pause(1.0, 0.2), pause(2.0, 0.25), pause(3.0, None, text="Press one, press two.")],
    )
    clips = [msgspec.structs.replace(brisk, name=f"brisk-{n}") for n in range(3)]
    static = replay("fixture", clips, TODAY, "static")
    adaptive = replay("fixture", clips, TODAY, "adaptive")

    assert static.talked_over == adaptive.talked_over == 0
    assert static.wait_p50_ms == TODAY.fallback_silence_ms
    assert adaptive.wait_p50_ms == TODAY.pauses.min_fallback_silence_ms


def test_human_clips_are_one_session_per_speaker_and_other_sets_one_per_source() -> None:
    human = [
        msgspec.structs.replace(slow_teller(), name=name, source="human-dev")
        for name in ("read_dashwood_two_sentences", "tel_dir_intro", "read_unless_selfish")
    ]
    sessions = sessions_of([*human, told("a"), told("b")])

    assert [[u.name for u in clips] for clips in sessions.values()] == [
        ["read_dashwood_two_sentences", "read_unless_selfish"],
        ["tel_dir_intro"],
        ["a", "b"],
    ]


def test_the_report_shows_both_modes_and_the_grid_for_every_set() -> None:
    points = replay_all([told("a"), msgspec.structs.replace(told("b"), source="human-dev")])
    text = replay_markdown(points, TODAY)
    assert "| fixture | 1 | 1/1 · 414 / 414 | 1/1 · 1364 / 1364 | 1/1 · 1364 / 1364 |" in text
    assert text.count("| margin \\ first turn |") == 2
    assert text.count("| unfinished \\ Smart Turn below |") == 2
    assert "- fixture, talked over (today's settings): `a`" in text


def test_a_number_read_out_slowly_is_not_talked_over_when_the_transcript_stops_mid_sentence() -> None:
    digits = Utterance(
        name="digits",
        source="fixture",
        text="The person at extension 2 0 5 is unavailable.",
        pauses=[
            pause(1.0, 0.96, smart_turn=0.47, text="The person at extension"),
            pause(2.5, 0.8, smart_turn=0.06, text="The person at extension 2."),
            pause(4.0, None, smart_turn=0.89, text="The person at extension 205 is unavailable."),
        ],
    )
    without = replay("fixture", [digits], replace(TODAY, unfinished_silence_ms=0), "adaptive")
    adaptive = replay("fixture", [digits], TODAY, "adaptive")

    assert (without.talked_over, without.talked_over_clips) == (1, ("digits",))
    assert (adaptive.talked_over, adaptive.cut_pauses) == (0, 0)
    # The finished sentence at the end is answered after the confident silence of a stranger's first turn.
    assert adaptive.wait_p50_ms == TODAY.pauses.first_confident_silence_ms
