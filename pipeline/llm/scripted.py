"""The offline engine: a scripted persona responder, NOT a language model.

It answers from a small per-persona script (a greeting, keyword rules and
fallback lines), so a fresh machine with no API key, and every test, can run
the whole voice graph. Its replies are deterministic and stream word by word,
exercising clause splitting and TTS exactly as a real model's stream would.
"""

from __future__ import annotations

import asyncio
import re
import zlib
from collections.abc import AsyncIterator, Sequence

import msgspec

from pipeline.llm.base import ChatMessage, TokenUsage
from pipeline.llm.briefing import Briefing

# One streamed piece: a word with its following whitespace (the first piece
# also keeps any leading whitespace), so the pieces concatenate to the reply.
_PIECE = re.compile(r"\s*\S+\s*")


def _words(text: str) -> list[str]:
    """Lowercased word tokens without punctuation ("What's up?" -> whats, up)."""
    return re.findall(r"[^\W_]+", text.lower().replace("'", "").replace("\u2019", ""))


def _phrase(text: str) -> str:
    """Words joined and padded with spaces, so `in` finds whole words/phrases only."""
    return f" {' '.join(_words(text))} "


# Openings that make a first message a greeting.
_GREETINGS = tuple(
    _phrase(greeting)
    for greeting in (
        "hello",
        "hi",
        "hey",
        "hiya",
        "howdy",
        "greetings",
        "good morning",
        "good afternoon",
        "good evening",
    )
)


class ScriptRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Reply with `reply` when the user's message contains any of `keywords`.

    A keyword may be several words ("good night"); it matches whole words only.
    """

    keywords: tuple[str, ...]
    reply: str

    def __post_init__(self) -> None:
        if not self.keywords or any(not _words(keyword) for keyword in self.keywords):
            raise ValueError("every rule needs at least one keyword, and each keyword a word")
        if not self.reply.strip():
            raise ValueError("a rule's reply must not be blank")


class Script(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a persona says offline; replies may contain `{name}` (the persona's name).

    `named_greeting` is the greeting for a resident whose name is known (a session's
    briefing), with `{resident}` for it; without one, such a resident hears
    "Hello, <name>." before the greeting.
    """

    greeting: str
    rules: tuple[ScriptRule, ...]
    fallbacks: tuple[str, ...]
    named_greeting: str | None = None

    def __post_init__(self) -> None:
        if not self.fallbacks:
            raise ValueError("a script needs at least one fallback reply")
        if not self.greeting.strip() or any(not line.strip() for line in self.fallbacks):
            raise ValueError("the greeting and fallback replies must not be blank")
        if self.named_greeting is not None and "{resident}" not in self.named_greeting:
            raise ValueError("the named greeting must say {resident}")


class ScriptedReply:
    """One scripted reply, streamed a word at a time.

    `usage` approximates tokens by words: `input_tokens` counts the
    whitespace-separated words of every message given, `output_tokens` the
    pieces yielded so far (final once the stream is exhausted).
    """

    def __init__(self, *, reply: str, input_tokens: int, piece_delay_s: float) -> None:
        self._pieces = _PIECE.findall(reply)
        self._piece_delay_s = piece_delay_s
        self.usage = TokenUsage(input_tokens=input_tokens)

    async def __aiter__(self) -> AsyncIterator[str]:
        for count, piece in enumerate(self._pieces, start=1):
            # Hand control to the event loop before each piece, as a network stream would.
            await asyncio.sleep(self._piece_delay_s)
            self.usage = TokenUsage(input_tokens=self.usage.input_tokens, output_tokens=count)
            yield piece


class ScriptedResponder:
    """A `Responder` that answers from a persona's `Script`; not a language model.

    For the last user message: the first rule with a keyword in it wins; else,
    if the assistant has not spoken yet and the message opens with a greeting,
    the script's greeting (by name, when the session's briefing names the
    resident); else a fallback chosen by a hash of the message.
    The same conversation always gets the same reply.
    """

    def __init__(self, *, persona_name: str, script: Script, piece_delay_s: float = 0.0) -> None:
        self._persona_name = persona_name
        self._script = script
        self._piece_delay_s = piece_delay_s
        self._rules = tuple(
            (tuple(_phrase(keyword) for keyword in rule.keywords), rule.reply) for rule in script.rules
        )

    @property
    def engine_name(self) -> str:
        return "scripted-offline"

    def stream(self, messages: Sequence[ChatMessage], briefing: Briefing | None = None) -> ScriptedReply:
        return ScriptedReply(
            reply=self.reply_to(messages, briefing),
            input_tokens=sum(len(message.content.split()) for message in messages),
            piece_delay_s=self._piece_delay_s,
        )

    def reply_to(self, messages: Sequence[ChatMessage], briefing: Briefing | None = None) -> str:
        """The whole reply that `stream(messages, briefing)` streams."""
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        resident = briefing.resident_name if briefing is not None else None
        return self._choose(last_user, messages, resident).replace("{name}", self._persona_name)

    def _choose(self, text: str, messages: Sequence[ChatMessage], resident: str | None) -> str:
        phrase = _phrase(text)
        for keywords, reply in self._rules:
            if any(keyword in phrase for keyword in keywords):
                return reply
        first_turn = all(message.role != "assistant" for message in messages)
        if first_turn and phrase.startswith(_GREETINGS):
            return self._greeting(resident)
        fallbacks = self._script.fallbacks
        return fallbacks[zlib.crc32(phrase.strip().encode()) % len(fallbacks)]

    def _greeting(self, resident: str | None) -> str:
        script = self._script
        if resident is None:
            return script.greeting
        if script.named_greeting is not None:
            return script.named_greeting.replace("{resident}", resident)
        return f"Hello, {resident}. {script.greeting}"
