"""The side-by-side ratio: our time over stock pipecat's; no ratio for a turn pipecat cut early."""

from __future__ import annotations

from benchmarks.voice.comparison import _cells, ratio


def test_the_ratio_is_this_servers_time_over_stock_pipecats() -> None:
    r = ratio(391.1, 901.0)

    assert r is not None
    assert r.ratio == 0.434
    assert _cells(r) == ["391.1", "901", "0.43"]


def test_a_turn_stock_pipecat_answered_before_the_speech_ended_keeps_both_figures_but_no_ratio() -> None:
    r = ratio(363.3, -975.7)

    assert r is not None
    assert r.ratio is None
    assert _cells(r) == ["363.3", "-975.7 (cut early)", "-"]


def test_a_figure_missing_on_either_side_gives_no_row_values() -> None:
    assert ratio(None, 900.0) is None
    assert _cells(ratio(400.0, None)) == ["-", "-", "-"]
