"""A participating device's side of a game: its turns and buttons become answers, not conversation.

While a device's live loop holds a trivia or story session, its persona binding keeps the activity
persona's voice, but its responder is a `GameResponder`: each turn (spoken, or typed) is matched
against the open window's options and recorded in the store (`Board`) for the instance running the
game, and the device says a short acknowledgement. What the resident said goes no further: no
LLM sees it. A turn that an alert rule finds critical ("I've fallen") is answered by the persona's
own responder instead, with its help line (server/alerts/speech.py). Buttons "a".."d" / "1".."4"
answer the same way (`VoiceLink.button`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from pipeline.graph.persona import PersonaBinding
from pipeline.llm import ChatMessage, Responder, TokenUsage
from server.activities.board import Answer, AnswerBy, Board
from server.activities.config import RUN_TYPES
from server.activities.matching import button_choice, letter_of, normalise, pick
from server.alerts.speech import HelpCalledResponder
from server.services.clock import utcnow
from server.state.base import Store
from server.state.records import SessionRecord

TAKEN = {"trivia": "Got it.", "story": "Thank you, noted."}
NOT_OPEN = {
    "trivia": "Hold on, the next question is coming.",
    "story": "Listen, the story goes on in a moment.",
}
NOT_ASKED = "You can join in with the next one."
UNCLEAR = {
    "trivia": "Sorry, I didn't catch an answer. Say it again, or press a button.",
    "story": "Please say one of the choices, or press its button.",
}


class Answering:
    """Records one device's answers to its activity's open window."""

    def __init__(self, *, store: Store, activity_id: str, activity_type: str, device_id: str) -> None:
        self._board = Board(store, activity_id)
        self._kind = activity_type
        self._device_id = device_id

    async def said(self, text: str, by: AnswerBy = "voice") -> str:
        """Record what was said; returns the line the device says back."""
        window = await self._board.window()
        problem = self._closed(window)
        if problem is not None or window is None:
            return problem or NOT_OPEN[self._kind]
        option = pick(text, window.options)
        if option is None and (self._kind == "story" or (not normalise(text) and letter_of(text) is None)):
            return UNCLEAR[self._kind]
        await self._board.answer(window.number, self._device_id, Answer(option=option, by=by, at=utcnow()))
        return TAKEN[self._kind]

    async def pressed(self, button: str) -> str | None:
        """A button that names an option answers with it; None for any other button."""
        window = await self._board.window()
        option = button_choice(button, len(window.options)) if window is not None else None
        if option is None and button_choice(button, 4) is None:
            return None
        problem = self._closed(window)
        if problem is not None or window is None or option is None:
            return problem or NOT_OPEN[self._kind]
        await self._board.answer(
            window.number, self._device_id, Answer(option=option, by="button", at=utcnow())
        )
        return TAKEN[self._kind]

    def _closed(self, window: Any) -> str | None:
        now = utcnow()
        if window is None or not (window.opens_at <= now <= window.closes_at):
            return NOT_OPEN[self._kind]
        if self._device_id not in window.device_ids:
            return NOT_ASKED
        return None


class _Line:
    def __init__(self, answering: Answering, text: str) -> None:
        self._answering = answering
        self._text = text
        self.usage = TokenUsage()

    async def __aiter__(self) -> AsyncIterator[str]:
        yield await self._answering.said(self._text)


class GameResponder:
    """The `Responder` of a device in a game (see the module's docstring)."""

    def __init__(self, inner: Responder, answering: Answering) -> None:
        self._inner = inner
        self.answering = answering

    @property
    def engine_name(self) -> str:
        return "activity"

    def stream(self, messages: Sequence[ChatMessage], *args: Any, **kwargs: Any) -> Any:
        last = messages[-1].content if messages and messages[-1].role == "user" else ""
        if is_critical(self._inner, last):
            return self._inner.stream(messages, *args, **kwargs)
        return _Line(self.answering, last)


def activity_binding(
    binding: PersonaBinding, session: SessionRecord, *, store: Store, device_id: str
) -> PersonaBinding:
    """The binding a device's live loop holds for `session`: `binding` itself, or for a session of a
    running trivia or story activity, the same voice answering with a `GameResponder`."""
    activity_id = session.metadata.get("activity_id")
    activity_type = session.metadata.get("activity_type")
    if not isinstance(activity_id, str) or activity_type not in RUN_TYPES:
        return binding
    answering = Answering(
        store=store, activity_id=activity_id, activity_type=str(activity_type), device_id=device_id
    )
    return PersonaBinding(
        persona_id=binding.persona_id,
        responder=GameResponder(binding.responder, answering),
        voice=binding.voice,
        adaptation_mode=binding.adaptation_mode,
    )


def answering_of(binding: PersonaBinding) -> Answering | None:
    """The device's game answers, when its live loop holds a game's session."""
    responder = binding.responder
    return responder.answering if isinstance(responder, GameResponder) else None


async def game_session(store: Store, device_id: str) -> tuple[Answering, SessionRecord] | None:
    """For a device without a voice loop (a server without voice models): its answering, when its
    active session is a running game's; None otherwise."""
    session_id = (await store.get_runtime(device_id)).active_session_id
    session = await store.get_session(session_id) if session_id else None
    if session is None or session.status != "active":
        return None
    activity_id = session.metadata.get("activity_id")
    activity_type = session.metadata.get("activity_type")
    if not isinstance(activity_id, str) or activity_type not in RUN_TYPES:
        return None
    answering = Answering(
        store=store, activity_id=activity_id, activity_type=str(activity_type), device_id=device_id
    )
    return answering, session


def is_critical(responder: Responder | None, text: str) -> bool:
    """What an alert rule finds critical goes to the persona (its help line), never to a game."""
    return isinstance(responder, HelpCalledResponder) and responder.is_critical(text)
