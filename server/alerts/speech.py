"""For a critical rule, the persona's spoken answer starts by telling the resident help has been called.

A `Responder` wrapper (the same interface, around each persona's engine): when the user's
last message matches a critical rule of the server-wide rules, the reply begins with the rule
file's `help_line`, then the persona's own answer follows, streamed as usual. It needs no
change to the audio graph and works for every engine, spoken and typed turns alike.

It uses the server-wide rules (the shipped ones, or `default.toml` of the rules directory): a
responder serves every device of its persona and does not know the device's group. A rule
only a group's file makes critical raises its alert, but the reply is not changed for it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from pipeline.llm import ChatMessage, Responder, TokenUsage
from server.alerts.matcher import find
from server.alerts.rules import RuleSet


class _Prefixed:
    def __init__(self, line: str, inner: Any) -> None:
        self._line = line
        self._inner = inner
        self.usage = TokenUsage()

    async def __aiter__(self) -> AsyncIterator[str]:
        yield self._line + " "
        async for piece in self._inner:
            yield piece
        self.usage = self._inner.usage


class HelpCalledResponder:
    def __init__(self, inner: Responder, rules: RuleSet) -> None:
        self._inner = inner
        self._rules = rules

    @property
    def engine_name(self) -> str:
        return self._inner.engine_name

    def stream(self, messages: Sequence[ChatMessage], *args: Any, **kwargs: Any) -> Any:
        inner = self._inner.stream(messages, *args, **kwargs)
        if not messages or messages[-1].role != "user" or not self.is_critical(messages[-1].content):
            return inner
        return _Prefixed(self._rules.help_line, inner)

    def is_critical(self, text: str) -> bool:
        return any(m.severity == "critical" for m in find(self._rules.rules, text, self._rules.variants))


def with_help_line(responders: Mapping[str, Responder], rules: RuleSet) -> dict[str, Responder]:
    """Every persona's responder, wrapped."""
    return {persona_id: HelpCalledResponder(r, rules) for persona_id, r in responders.items()}
