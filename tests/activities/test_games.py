"""The trivia and story runners, on a real in-memory store with a fake stage (tests/activities/fakes.py):
what is cued and said, to whom, the scores kept, a device that drops out, a stop, a takeover."""

from __future__ import annotations

import msgspec
import pytest

from server.activities.banks import load_banks
from server.activities.board import Board
from server.activities.story_game import StoryGame
from server.activities.trivia_game import TriviaGame
from server.state.memory import MemoryStore
from tests.activities.fakes import PLACES, Crash, FakeStage, Reply, start_activity

ALL = set(PLACES)
KITCHEN, LOUNGE, GARDEN = PLACES
QUIZ = {"rounds": 2, "answer_window_s": 5, "questions": ["geo-e1", "nat-e1"]}
BANKS = load_banks()


def right_button(stage: FakeStage, number: int) -> str:
    _, fields = stage.cued("trivia_question")[number - 1]
    return str(next(o["button"] for o in fields["options"] if o["text"] == {1: "Paris", 2: "8"}[number]))


async def test_a_quiz_scores_each_device_and_names_who_was_right() -> None:
    store = MemoryStore()
    activity = await start_activity(store, "trivia", QUIZ, users={KITCHEN: "usr_edith"})
    stage = FakeStage(store, set(ALL))
    stage.answers = {
        ("trivia_question", 1): {KITCHEN: "I think it's Paris", LOUNGE: "London", GARDEN: ("button", "?")},
        ("trivia_question", 2): {KITCHEN: "eight", LOUNGE: "Eight legs.", GARDEN: "six"},
    }
    stage.on_cue = lambda kind, fields: _press_right(stage, kind, fields)

    await TriviaGame(store=store, stage=stage, activity=activity, banks=BANKS).run()

    done = await store.get_activity(activity.activity_id)
    assert done is not None
    assert done.scores == {KITCHEN: 2, LOUNGE: 1, GARDEN: 1, "user:usr_edith": 2}
    assert done.current_round == 2
    assert stage.finished == [activity.activity_id]
    spoken = stage.spoken()
    assert spoken[1].startswith("Question 1 of 2. What is the capital city of France?")
    assert "A, " in spoken[1]
    assert "B, " in spoken[1]
    assert "Or C, " in spoken[1]
    assert "The answer is Paris. Well done, Kitchen and Garden!" in spoken
    assert "The scores so far: Garden 1 point, Kitchen 1 point, Lounge 0 points." in spoken
    assert spoken[-1].startswith("That's the end of the quiz! The winner is Kitchen with 2 points.")
    questions = [line for line in stage.lines if line[1].startswith("Question")]
    assert all(interrupt and devices == list(PLACES) for devices, _, interrupt in questions)
    (_, first), (_, second) = stage.cued("trivia_question")
    assert first["starts_at"] < second["starts_at"] < first["closes_at"]  # closed once all had answered


def _press_right(stage: FakeStage, kind: str, fields: dict[str, object]) -> None:
    if kind == "trivia_question" and fields["round"] == 1:
        stage.answers[("trivia_question", 1)][GARDEN] = ("button", right_button(stage, 1))


async def test_a_device_that_drops_out_misses_questions_without_stopping_the_game() -> None:
    store = MemoryStore()
    activity = await start_activity(store, "trivia", QUIZ)
    stage = FakeStage(store, set(ALL))
    stage.answers = {
        ("trivia_question", 1): {KITCHEN: "Paris", LOUNGE: "Paris", GARDEN: "Rome"},
        ("trivia_question", 2): {KITCHEN: "eight"},
    }

    def lounge_leaves(kind: str, fields: dict[str, object]) -> None:
        if kind == "trivia_result" and fields["round"] == 1:
            stage.connected_ids.discard(LOUNGE)
        if kind == "trivia_result" and fields["round"] == 2:
            stage.connected_ids.add(LOUNGE)  # back for the end

    stage.on_cue = lounge_leaves
    await TriviaGame(store=store, stage=stage, activity=activity, banks=BANKS).run()

    (asked_first, _), (asked_second, second) = stage.cued("trivia_question")
    assert asked_first == list(PLACES)
    assert asked_second == second["device_ids"] == [KITCHEN, GARDEN]
    [(told_end, _)] = stage.cued("trivia_end")
    assert LOUNGE in told_end  # rejoined: hears the winner
    done = await store.get_activity(activity.activity_id)
    assert done is not None
    assert done.scores == {KITCHEN: 2, LOUNGE: 1, GARDEN: 0}


async def test_a_quiz_stopped_by_an_operator_ends_without_another_word() -> None:
    store = MemoryStore()
    activity = await start_activity(store, "trivia", QUIZ)
    stage = FakeStage(store, set(ALL))

    async def operator_stops(kind: str, fields: dict[str, object]) -> None:
        if kind == "trivia_question":  # the record as a stop from another instance writes it
            await store.save_activity(msgspec.structs.replace(activity, status="stopped"))

    stage.on_cue = operator_stops
    await TriviaGame(store=store, stage=stage, activity=activity, banks=BANKS).run()
    assert [kind for kind, _, _ in stage.cues] == ["trivia_question"]
    assert stage.finished == []


async def test_another_instance_continues_a_quiz_without_asking_or_scoring_twice() -> None:
    store = MemoryStore()
    activity = await start_activity(store, "trivia", QUIZ)
    answers: dict[tuple[str, int], dict[str, Reply]] = {
        ("trivia_question", 1): {KITCHEN: "Paris", LOUNGE: "Madrid", GARDEN: "Paris"},
        ("trivia_question", 2): {KITCHEN: "8", LOUNGE: "8", GARDEN: "10"},
    }
    first = FakeStage(store, set(ALL), answers=answers, crash_on=("trivia_result", 1))
    with pytest.raises(Crash):
        await TriviaGame(store=store, stage=first, activity=activity, banks=BANKS).run()

    second = FakeStage(store, set(ALL), answers=answers, clock=first.clock)
    again = await store.get_activity(activity.activity_id)
    assert again is not None
    assert again.current_round == 1
    await TriviaGame(store=store, stage=second, activity=again, banks=BANKS).run()

    assert [f["round"] for _, f in first.cued("trivia_question") + second.cued("trivia_question")] == [1, 2]
    done = await store.get_activity(activity.activity_id)
    assert done is not None
    assert done.scores == {KITCHEN: 2, LOUNGE: 1, GARDEN: 1}
    assert not any(text.startswith("Welcome") for text in second.spoken())


async def test_a_story_follows_the_majority_then_the_default_when_nobody_votes() -> None:
    store = MemoryStore()
    activity = await start_activity(store, "story", {"story": "train", "vote_window_s": 5})
    stage = FakeStage(store, set(ALL))
    votes: dict[str, Reply] = {KITCHEN: "The river, please", LOUNGE: "river", GARDEN: ("button", "a")}
    stage.answers = {("story_choice", 1): votes}

    await StoryGame(store=store, stage=stage, activity=activity, banks=BANKS).run()

    assert [f["chapter"] for _, f in stage.cued("story_chapter")] == ["start", "river", "market"]
    first_vote, second_vote = (f for _, f in stage.cued("story_vote"))
    assert first_vote["votes"] == {"viaduct": 1, "river": 2}
    assert first_vote["chosen"] == "river"
    assert second_vote["chosen"] == "market"  # nobody chose: the default
    spoken = stage.spoken()
    assert spoken[0].startswith("Gather round for a story: The Little Steam Train.")
    assert "You chose the river. Let's see what happens." in spoken
    assert "Nobody chose, so we'll go with the market." in spoken
    assert stage.finished == [activity.activity_id]
    progress = await Board(store, activity.activity_id).progress()
    assert progress is not None
    assert progress.chapter == "market"
    assert progress.told
