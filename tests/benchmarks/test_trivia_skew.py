"""The trivia skew benchmark end to end at its smallest: one game of one question for 3 devices on a
server it starts itself (no voice models); every device is asked, answers by button, and the game ends."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from benchmarks.trivia.skew import Report, main


def test_three_devices_one_question_are_measured_and_the_game_ends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "trivia.json"

    assert main(["--devices", "3", "--rounds", "1", "--json", str(out)]) == 0

    report = msgspec.json.decode(out.read_bytes(), type=Report)
    assert (report.backend, report.instances) == ("memory", 1)
    [level] = report.levels
    assert (level.devices, level.rounds) == (3, 1)
    [question] = level.questions
    assert question.round == 1
    assert len(question.arrivals_ms) == 3
    assert min(question.arrivals_ms) == 0
    assert question.spread_ms == max(question.arrivals_ms)
    # Every device was given the one instant at which the question is said.
    assert question.starts_at_spread_ms == 0
    assert level.starts_at_disagreed == 0
    assert level.spread_ms is not None
    assert level.spread_ms.n == 1
    assert level.arrival_ms is not None
    assert level.arrival_ms.n == 3
    assert "| 3 | lead (starts_at minus last arrival) | 1 |" in capsys.readouterr().out
