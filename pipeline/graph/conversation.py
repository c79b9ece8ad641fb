"""A session's conversation as the graph sees it: only what was actually said."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.llm import ChatMessage
from pipeline.llm.briefing import Briefing


class Conversation:
    def __init__(self, history: Iterable[ChatMessage] = (), *, keep_last: int = 40) -> None:
        self._keep_last = keep_last
        self._messages: list[ChatMessage] = list(history)[-keep_last:]
        self.briefing: Briefing | None = None
        """What the persona knows of the person in this conversation (`pipeline.llm.briefing`); set by
        whoever holds the session, dropped when another conversation replaces this one."""

    def messages(self) -> list[ChatMessage]:
        return list(self._messages)

    def add(self, role: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if role not in ("user", "assistant"):
            raise ValueError(f"unknown role {role!r}")
        self._messages.append(ChatMessage(role=role, content=text))  # type: ignore[arg-type]  # checked above
        del self._messages[: -self._keep_last]

    def clear(self) -> None:
        self._messages.clear()

    def replace(self, history: Iterable[ChatMessage], briefing: Briefing | None = None) -> None:
        """Hold another session's conversation (and what is known of its person) from now on."""
        self._messages = list(history)[-self._keep_last :]
        self.briefing = briefing
