"""An activity's moment-to-moment state in the `Store`: the open answer window, each device's answer,
each round's result, a story's progress.

Kept as small JSON blobs (`Store.put_blob`, memory or Redis), so the instance holding a device's
socket records its answer where the instance running the game reads it, and an instance that takes
a game over finds where it stood. Only the chosen option is kept, never what was said.

    activity:{id}:window            the current question or choice (`Window`)
    activity:{id}:answer:{n}:{dev}  a device's answer in window n (`Answer`; the last one counts)
    activity:{id}:result:{n}        round n's outcome (`Result`), written once it is scored
    activity:{id}:progress          a story's place (`Progress`)
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import msgspec

from server.state.base import Store

BLOB_TTL_S = 6 * 3600
"""How long an activity's blobs are kept (longer than any activity runs)."""

WindowKind = Literal["question", "choice"]
AnswerBy = Literal["voice", "button", "text"]


class Window(msgspec.Struct, frozen=True):
    """A question (trivia) or a choice (story) open for answers from `opens_at` to `closes_at`."""

    number: int
    kind: WindowKind
    opens_at: datetime
    closes_at: datetime
    device_ids: list[str]
    """The participants it was put to (connected then); only they answer it."""
    options: list[list[str]]
    """Each option's phrasings, in the order read out (A, B, C, ...)."""


class Answer(msgspec.Struct, frozen=True):
    option: int | None
    """The option named; None: an answer that names none (wrong, for a question)."""
    by: AnswerBy
    at: datetime


class Result(msgspec.Struct, frozen=True):
    number: int
    chosen: dict[str, int | None]
    """Per participant who answered, the option named."""
    outcome: int
    """Trivia: the right option; story: the option taken."""


class Progress(msgspec.Struct, frozen=True):
    number: int
    """The chapter's number in this telling (1 for the first)."""
    chapter: str
    told: bool = False
    """Its narration is over (an instance taking over does not tell it again)."""


_window = msgspec.json.Decoder(Window)
_answer = msgspec.json.Decoder(Answer)
_result = msgspec.json.Decoder(Result)
_progress = msgspec.json.Decoder(Progress)
_encode = msgspec.json.Encoder().encode


class Board:
    def __init__(self, store: Store, activity_id: str) -> None:
        self._store = store
        self._prefix = f"activity:{activity_id}:"

    async def window(self) -> Window | None:
        raw = await self._store.get_blob(self._prefix + "window")
        return None if raw is None else _window.decode(raw)

    async def open_window(self, window: Window) -> None:
        await self._store.put_blob(self._prefix + "window", _encode(window), BLOB_TTL_S)

    async def answer(self, number: int, device_id: str, answer: Answer) -> None:
        await self._store.put_blob(f"{self._prefix}answer:{number}:{device_id}", _encode(answer), BLOB_TTL_S)

    async def answers(self, number: int, device_ids: Sequence[str]) -> dict[str, Answer]:
        found: dict[str, Answer] = {}
        for device_id in device_ids:
            raw = await self._store.get_blob(f"{self._prefix}answer:{number}:{device_id}")
            if raw is not None:
                found[device_id] = _answer.decode(raw)
        return found

    async def result(self, number: int) -> Result | None:
        raw = await self._store.get_blob(f"{self._prefix}result:{number}")
        return None if raw is None else _result.decode(raw)

    async def save_result(self, result: Result) -> None:
        await self._store.put_blob(f"{self._prefix}result:{result.number}", _encode(result), BLOB_TTL_S)

    async def progress(self) -> Progress | None:
        raw = await self._store.get_blob(self._prefix + "progress")
        return None if raw is None else _progress.decode(raw)

    async def save_progress(self, progress: Progress) -> None:
        await self._store.put_blob(self._prefix + "progress", _encode(progress), BLOB_TTL_S)
