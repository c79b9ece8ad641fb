"""Per clip, the server's rule against a stock-pipecat-like one: who would talk over the speaker."""

from __future__ import annotations

import msgspec
import pytest

from benchmarks.turn_ends.pauses import Utterance
from benchmarks.turn_ends.per_clip import per_clip_markdown, pipecat_like
from tests.benchmarks.test_turn_sweep import pause, slow_teller


def hesitant() -> Utterance:
    """A 2.5 s pause after "um" (Smart Turn unsure), then the end, which Smart Turn rates unsure too."""
    return Utterance(
        name="hesitant",
        source="human-natural",
        text="I would like, um, some tea",
        pauses=[
            pause(1.0, 2.5, smart_turn=0.2, text="I would like, um,"),
            pause(4.5, None, smart_turn=0.3, text="I would like, um, some tea."),
        ],
        turn_end_s=4.4,
    )


def test_pipecat_like_ends_a_complete_sounding_pause_after_200_ms_and_an_unsure_one_after_3_s() -> None:
    teller = pipecat_like(slow_teller())  # 1.2 s after "I went to the market." (Smart Turn 0.9)
    assert teller.talked_over
    assert teller.first_cut == "1.20 s after 'to the market.'"
    assert teller.wait_s == pytest.approx(0.064 + 0.2)

    slow = pipecat_like(hesitant())  # 2.5 s of silence is under its 3 s
    assert not slow.talked_over
    assert slow.wait_s == pytest.approx(0.1 + 3.0)


def test_the_table_names_each_clip_and_whether_each_rule_talks_over_it() -> None:
    clips = [msgspec.structs.replace(slow_teller(), source="human-natural"), hesitant()]
    text = per_clip_markdown(clips, ["human-natural"])

    assert "**human-natural** (2 clips, 1 sessions)" in text
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| `")}
    # The server's rule: a first long pause after a finished sentence is cut (nothing learned yet).
    assert "**talked over**" in rows["| `slow`"]
    assert "talked over (1.20 s after" in rows["| `slow`"]
    assert rows["| `hesitant`"].endswith("| no |")
