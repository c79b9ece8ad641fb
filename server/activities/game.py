"""What trivia and story runners share: the activity as the store has it, the answer window, names.

A runner is resumable: everything it needs to go on is in the store (`ActivityRecord`: round,
scores, status; `Board`: window, answers, results, progress), so an instance that takes the game
over (server/activities/host.py) continues where it stood. Before each write it reads the activity
again; once stopped (by an operator, from any instance) the runner ends without another word.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from server.activities.banks import Banks
from server.activities.board import Board, Window, WindowKind
from server.activities.stage import Stage
from server.state.base import Store
from server.state.records import ActivityRecord

LEAD_S = 1.0
"""How far ahead of its `starts_at` a question or chapter is cued, so every device has it in time."""
WORD_S = 0.45
"""A generous estimate of the time a spoken word takes, to open an answer window once a question
has been read out and to bound the wait for a line to end."""
POLL_S = 0.25
SETTLE_S = 0.5
"""Once every participant has answered, how long more the window stays open (a final transcript
may still replace an early one)."""


class Stopped(Exception):
    """The activity was stopped (or is gone): the runner ends."""


def speaking_s(text: str) -> float:
    return len(text.split()) * WORD_S


class Game:
    def __init__(self, *, store: Store, stage: Stage, activity: ActivityRecord, banks: Banks) -> None:
        self.store = store
        self.stage = stage
        self.activity = activity
        self.banks = banks
        self.board = Board(store, activity.activity_id)
        self.names: dict[str, str] = {}

    @property
    def activity_id(self) -> str:
        return self.activity.activity_id

    async def run(self) -> None:
        try:
            self.names = await self._names()
            await self.play()
        except Stopped:
            return
        await self.stage.finish(self.activity_id)

    async def play(self) -> None:
        raise NotImplementedError

    async def current(self) -> ActivityRecord:
        activity = await self.store.get_activity(self.activity_id)
        if activity is None or activity.status != "running":
            raise Stopped
        self.activity = activity
        return activity

    async def save(self, **changes: Any) -> None:
        activity = await self.current()
        await self.store.save_activity(msgspec.structs.replace(activity, **changes))

    async def present(self) -> list[str]:
        await self.current()
        return await self.stage.connected(self.activity.device_ids)

    async def open_window(
        self, number: int, kind: WindowKind, line: str, options: list[list[str]], window_s: float
    ) -> tuple[Window, list[str]]:
        """Put a question or choice to the devices connected now: cue it for one moment, say it then,
        and take answers from then until it has been said and `window_s` more have passed."""
        present = await self.present()
        starts_at = self.stage.now() + timedelta(seconds=LEAD_S)
        window = Window(
            number=number,
            kind=kind,
            opens_at=starts_at,
            closes_at=starts_at + timedelta(seconds=speaking_s(line) + window_s),
            device_ids=present,
            options=options,
        )
        await self.board.open_window(window)
        return window, present

    async def collect(self, window: Window) -> dict[str, int | None]:
        """The answers of the window's participants: until it closes, or all have answered."""
        settle_until = None
        while True:
            answers = await self.board.answers(window.number, window.device_ids)
            now = self.stage.now()
            if now >= window.closes_at or (settle_until is not None and now >= settle_until):
                return {d: a.option for d, a in answers.items()}
            if settle_until is None and window.device_ids and len(answers) == len(window.device_ids):
                settle_until = now + timedelta(seconds=SETTLE_S)
            await self.current()
            await self.stage.sleep_until(min(now + timedelta(seconds=POLL_S), window.closes_at))

    async def line(self, device_ids: list[str], text: str, *, interrupt: bool = False) -> None:
        """Say `text` on the devices and wait until they have finished saying it."""
        await self.stage.say(device_ids, text, interrupt=interrupt)
        await self.stage.quiet(device_ids, expect_s=speaking_s(text))

    def fields(self, **more: Any) -> dict[str, Any]:
        activity = self.activity
        return {
            "activity_id": activity.activity_id,
            "activity_type": activity.activity_type,
            "group_id": activity.group_id,
            **more,
        }

    async def _names(self) -> dict[str, str]:
        """How the quizmaster calls each device: its location, else its name, else its id."""
        devices = await self.store.get_devices(self.activity.device_ids)
        return {
            d: (record.location or record.name) if record is not None else d
            for d, record in zip(self.activity.device_ids, devices, strict=True)
        }
