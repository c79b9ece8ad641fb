"""The silences that end a speaker's turn, learned from the pauses inside their turns."""

from __future__ import annotations

import msgspec
import pytest

from pipeline.graph.pauses import PauseModel, PauseParams, PauseProfile


def model(mode: str = "adaptive", **params: int) -> PauseModel:
    return PauseModel(
        confident_silence_ms=350,
        fallback_silence_ms=950,
        mode=mode,  # type: ignore[arg-type]
        params=PauseParams(**params),
    )


def test_static_keeps_the_fixed_silences_whatever_it_hears() -> None:
    m = model("static")
    m.observe(1.2, confident=True)
    m.turn_ended()
    assert (m.silence_s(confident=True), m.silence_s(confident=False)) == (0.35, 0.95)


def test_a_stranger_gets_more_time_until_their_first_turn_has_ended() -> None:
    m = model()
    assert m.silence_s(confident=True) == pytest.approx(0.6)
    assert m.silence_s(confident=False) == pytest.approx(0.95)
    m.turn_ended()
    assert m.silence_s(confident=True) == pytest.approx(0.35)


def test_someone_who_stops_long_between_sentences_gets_more_time() -> None:
    m = model()
    m.turn_ended()
    m.observe(0.9, confident=True)
    assert m.silence_s(confident=True) == pytest.approx(1.0)
    assert m.silence_s(confident=False) == pytest.approx(1.15)


def test_a_brisk_speaker_gets_a_quicker_answer_when_the_turn_does_not_sound_finished() -> None:
    m = model()
    m.turn_ended()
    for seconds in (0.16, 0.25, 0.38, 0.1):
        m.observe(seconds, confident=False)
    assert m.silence_s(confident=True) == pytest.approx(0.35)
    assert m.silence_s(confident=False) == pytest.approx(0.75)  # the least fallback, not the static 0.95


def test_only_recent_pauses_count_and_the_silences_are_capped() -> None:
    m = model(memory=3)
    m.observe(5.0, confident=True)
    assert m.silence_s(confident=True) == pytest.approx(1.5)
    assert m.silence_s(confident=False) == pytest.approx(2.0)
    for _ in range(3):
        m.observe(0.3, confident=True)
    assert m.silence_s(confident=True) == pytest.approx(0.4)


def test_what_was_learned_survives_a_round_trip_and_holds_no_words() -> None:
    m = model()
    m.observe(0.7, confident=True)
    m.observe(0.2, confident=False)
    m.turn_ended()
    wire = msgspec.json.encode(m.profile)
    again = PauseModel(
        confident_silence_ms=350,
        fallback_silence_ms=950,
        profile=msgspec.json.decode(wire, type=PauseProfile),
    )
    assert again.profile == m.profile
    assert again.silence_s(confident=True) == m.silence_s(confident=True)
    learned = {"recent": [[0.7, True], [0.2, False]], "finished": [[0.7, True]], "turns": 1}
    assert msgspec.json.decode(wire) == learned


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="memory"):
        PauseParams(memory=0)
    with pytest.raises(ValueError, match="max_fallback"):
        PauseParams(max_confident_silence_ms=2000, max_fallback_silence_ms=1000)


@pytest.mark.parametrize("mode", ["static", "adaptive"])
def test_a_turn_that_plainly_goes_on_waits_at_least_the_unfinished_silence(mode: str) -> None:
    m = PauseModel(
        confident_silence_ms=350,
        fallback_silence_ms=950,
        unfinished_silence_ms=1500,
        mode=mode,  # type: ignore[arg-type]
    )
    m.turn_ended()
    m.observe(0.2, confident=False)
    assert m.silence_s(confident=False, unfinished=True) == pytest.approx(1.5)
    # The finished-sounding and the unsure silences are not touched.
    assert m.silence_s(confident=True) == pytest.approx(0.35)
    assert m.silence_s(confident=False) == pytest.approx(0.95 if mode == "static" else 0.75)
    # `unfinished` means nothing when the turn sounds finished.
    assert m.silence_s(confident=True, unfinished=True) == pytest.approx(0.35)


def test_the_unfinished_silence_follows_a_longer_learned_one_and_is_capped() -> None:
    m = PauseModel(confident_silence_ms=350, fallback_silence_ms=950, unfinished_silence_ms=1500)
    m.observe(1.7, confident=False)
    assert m.silence_s(confident=False, unfinished=True) == pytest.approx(1.8)  # learned, above 1.5
    capped = PauseModel(confident_silence_ms=350, fallback_silence_ms=950, unfinished_silence_ms=5000)
    assert capped.silence_s(confident=False, unfinished=True) == pytest.approx(2.0)  # max_fallback_silence_ms
    without = PauseModel(confident_silence_ms=350, fallback_silence_ms=950)
    assert without.silence_s(confident=False, unfinished=True) == without.silence_s(confident=False)


@pytest.mark.parametrize("mode", ["static", "adaptive"])
def test_a_turn_stopped_on_a_word_no_sentence_ends_on_waits_the_dangling_silence_uncapped(mode: str) -> None:
    m = PauseModel(
        confident_silence_ms=350,
        fallback_silence_ms=950,
        unfinished_silence_ms=1200,
        dangling_silence_ms=3000,
        mode=mode,  # type: ignore[arg-type]
    )
    m.turn_ended()
    m.observe(0.4, confident=False)
    assert m.silence_s(confident=False, unfinished=True, dangling=True) == pytest.approx(
        3.0
    )  # above the 2 s cap
    assert m.silence_s(confident=False, unfinished=True) == pytest.approx(1.2)
    # Only an unfinished turn can dangle; a finished-sounding one is never held.
    assert m.silence_s(confident=False, dangling=True) == m.silence_s(confident=False)
    assert m.silence_s(confident=True, unfinished=True, dangling=True) == pytest.approx(0.35)
    without = PauseModel(confident_silence_ms=350, fallback_silence_ms=950, unfinished_silence_ms=1200)
    assert without.silence_s(confident=False, unfinished=True, dangling=True) == pytest.approx(1.2)
