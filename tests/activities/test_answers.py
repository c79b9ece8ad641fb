"""A participating device's side: its turns and buttons recorded as answers to the open window, and
what it says back (server/activities/answers.py); a critical turn still gets the help line."""

from __future__ import annotations

from datetime import timedelta

from personas import load_library
from personas.factory import build_script
from pipeline.llm import ChatMessage
from pipeline.llm.scripted import ScriptedResponder
from server.activities.answers import NOT_ASKED, NOT_OPEN, TAKEN, UNCLEAR, Answering, GameResponder
from server.activities.board import Board, Window
from server.alerts.rules import AlertRules
from server.alerts.speech import HelpCalledResponder
from server.services.clock import utcnow
from server.state.memory import MemoryStore

OPTIONS = [["Rome"], ["Paris"], ["Madrid"]]


async def open_window(store: MemoryStore, *, opens_in_s: float = -1.0, kind: str = "question") -> Board:
    board = Board(store, "act_1")
    now = utcnow()
    await board.open_window(
        Window(
            number=1,
            kind=kind,  # type: ignore[arg-type]
            opens_at=now + timedelta(seconds=opens_in_s),
            closes_at=now + timedelta(seconds=opens_in_s + 30),
            device_ids=["dev_a", "dev_b"],
            options=OPTIONS,
        )
    )
    return board


def answering(store: MemoryStore, device_id: str = "dev_a", kind: str = "trivia") -> Answering:
    return Answering(store=store, activity_id="act_1", activity_type=kind, device_id=device_id)


async def test_a_spoken_answer_is_recorded_as_the_option_it_names() -> None:
    store = MemoryStore()
    board = await open_window(store)
    assert await answering(store).said("I think it's Pari") == TAKEN["trivia"]
    assert await answering(store, "dev_b").said("London") == TAKEN["trivia"]  # wrong: no option
    answers = await board.answers(1, ["dev_a", "dev_b"])
    assert answers["dev_a"].option == 1
    assert answers["dev_b"].option is None


async def test_the_last_answer_in_the_window_counts() -> None:
    store = MemoryStore()
    board = await open_window(store)
    await answering(store).said("Rome")
    await answering(store).said("Madrid")
    assert (await board.answers(1, ["dev_a"]))["dev_a"].option == 2


async def test_answers_outside_the_window_or_from_a_device_not_asked_are_not_taken() -> None:
    store = MemoryStore()
    board = await open_window(store, opens_in_s=10)
    assert await answering(store).said("Paris") == NOT_OPEN["trivia"]
    board = await open_window(store)
    assert await answering(store, "dev_late").said("Paris") == NOT_ASKED
    assert await answering(store, "dev_late").pressed("b") == NOT_ASKED
    assert await answering(store).said("um") == UNCLEAR["trivia"]
    assert await board.answers(1, ["dev_a", "dev_late"]) == {}


async def test_an_option_button_answers_and_other_buttons_are_left_alone() -> None:
    store = MemoryStore()
    board = await open_window(store)
    assert await answering(store).pressed("talk") is None
    assert await answering(store).pressed("C") == TAKEN["trivia"]
    answer = (await board.answers(1, ["dev_a"]))["dev_a"]
    assert answer.option == 2
    assert answer.by == "button"


async def test_a_story_vote_that_names_no_option_is_asked_again() -> None:
    store = MemoryStore()
    board = await open_window(store, kind="choice")
    assert await answering(store, kind="story").said("I like trains") == UNCLEAR["story"]
    assert await answering(store, kind="story").said("Paris, please") == TAKEN["story"]
    assert (await board.answers(1, ["dev_a"]))["dev_a"].option == 1


async def test_a_critical_turn_in_a_game_gets_the_help_line_not_an_answer() -> None:
    store = MemoryStore()
    board = await open_window(store)
    persona = load_library().get("entertainer")
    assert persona is not None
    rules = AlertRules.load(None).default
    scripted = ScriptedResponder(persona_name=persona.name, script=build_script(persona))
    game = GameResponder(HelpCalledResponder(scripted, rules), answering(store))

    fallen = [ChatMessage(role="user", content="Help, I've fallen down")]
    said = "".join([p async for p in game.stream(fallen)])
    assert said.startswith(rules.help_line)
    assert await board.answers(1, ["dev_a"]) == {}
    reply = "".join([p async for p in game.stream([ChatMessage(role="user", content="Paris")])])
    assert reply == TAKEN["trivia"]
