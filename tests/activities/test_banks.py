"""The shipped question banks and stories load, and a bad file is named with its fault."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from server.activities.banks import DIFFICULTIES, BankFileError, load_banks
from server.activities.matching import pick


def test_at_least_forty_questions_per_difficulty_over_six_topics() -> None:
    banks = load_banks()
    per = Counter(q.difficulty for q in banks.questions.values())
    assert all(per[d] >= 40 for d in DIFFICULTIES), per
    assert {"music", "geography", "food", "nature", "films", "general"} <= set(banks.topics)


def test_every_answer_matches_itself_and_no_wrong_option() -> None:
    for q in load_banks().questions.values():
        options = [[q.item.answer, *q.item.accept], *[[w] for w in q.item.wrong]]
        assert pick(q.item.answer, options) == 0, q.item.id
        for i, wrong in enumerate(q.item.wrong, 1):
            assert pick(wrong, options) == i, (q.item.id, wrong)


def test_stories_branch_and_end() -> None:
    stories = load_banks().stories
    assert len(stories) >= 2
    for story in stories.values():
        ends = [c for c in story.chapters.values() if c.choice is None]
        assert ends
        assert story.chapters[story.start].choice is not None


def test_a_story_whose_option_leads_nowhere_is_refused(tmp_path: Path) -> None:
    (tmp_path / "trivia").mkdir()
    (tmp_path / "stories").mkdir()
    (tmp_path / "stories" / "bad.toml").write_text(
        'id = "bad"\ntitle = "Bad"\nstart = "a"\n[chapters.a]\ntext = "Once."\n'
        '[chapters.a.choice]\nquestion = "Which?"\ndefault = "x"\n'
        'options = [{ id = "x", label = "x", next = "a" }, { id = "y", label = "y", next = "nowhere" }]\n'
    )
    with pytest.raises(BankFileError, match=r"bad\.toml: chapters\.a\.choice: option `y` leads nowhere"):
        load_banks(tmp_path)


def test_an_unknown_field_is_refused_with_its_file(tmp_path: Path) -> None:
    (tmp_path / "trivia").mkdir()
    (tmp_path / "stories").mkdir()
    (tmp_path / "trivia" / "t.toml").write_text(
        'topic = "t"\ntitle = "T"\n'
        'easy = [{ id = "q", question = "Q?", answer = "A", wrong = ["B"], hint = "x" }]\n'
    )
    with pytest.raises(BankFileError, match=r"t\.toml: Object contains unknown field `hint`"):
        load_banks(tmp_path)
