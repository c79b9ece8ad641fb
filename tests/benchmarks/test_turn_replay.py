"""Sessions replayed through the server's pause model: what learning a speaker's pauses changes."""

from __future__ import annotations

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
        pauses=[pause(1.0, 0.2), pause(2.0, 0.25), pause(3.0, None)],
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
    assert "| fixture | 1 | 1/1 · 414 / 414 | 1/1 · 1364 / 1364 |" in text
    assert text.count("| margin \\ first turn |") == 2
