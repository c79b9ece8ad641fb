"""A stage that records what a game does to its devices, on a clock of its own that never waits,
and residents scripted to answer each question or choice as it is cued."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from server.activities.board import Answer, Board
from server.activities.matching import button_choice, pick
from server.state.memory import MemoryStore
from server.state.records import ActivityRecord, DeviceRecord, Return, SessionRecord

T0 = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)

Reply = str | tuple[str, str]
"""What a device answers: words said, or ("button", name)."""


class Crash(Exception):
    """The instance running the game died (the fake's failure knob)."""


@dataclass
class FakeStage:
    store: MemoryStore
    connected_ids: set[str]
    answers: dict[tuple[str, int], dict[str, Reply]] = field(default_factory=dict)
    """(event_type, number) → device → reply, given when that question or choice is cued."""
    crash_on: tuple[str, int] | None = None
    """(event_type, number): fail right after the game cues it."""
    on_cue: Callable[[str, dict[str, Any]], object] | None = None
    clock: datetime = T0
    cues: list[tuple[str, list[str], dict[str, Any]]] = field(default_factory=list)
    lines: list[tuple[list[str], str, bool]] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)

    def now(self) -> datetime:
        return self.clock

    async def sleep_until(self, when: datetime) -> None:
        self.clock = max(self.clock, when)
        await asyncio.sleep(0)

    async def connected(self, device_ids: Sequence[str]) -> list[str]:
        return [d for d in device_ids if d in self.connected_ids]

    async def cue(self, device_ids: Sequence[str], event_type: str, fields: dict[str, Any]) -> None:
        self.cues.append((event_type, list(device_ids), fields))
        number = fields.get("round", fields.get("number", 0))
        if self.on_cue is not None:
            done = self.on_cue(event_type, fields)
            if inspect.isawaitable(done):
                await done
        replies = self.answers.get((event_type, number), {})
        board = Board(self.store, fields["activity_id"])
        window = await board.window()
        assert window is not None or not replies
        for device_id, reply in replies.items():
            assert window is not None
            if isinstance(reply, tuple):
                option = button_choice(reply[1], len(window.options))
            else:
                option = pick(reply, window.options)
            at = window.opens_at + timedelta(seconds=1)
            await board.answer(window.number, device_id, Answer(option=option, by="voice", at=at))
        if self.crash_on == (event_type, number):
            raise Crash

    async def say(self, device_ids: Sequence[str], text: str, *, interrupt: bool) -> None:
        self.lines.append((list(device_ids), text, interrupt))

    async def quiet(self, device_ids: Sequence[str], *, expect_s: float) -> None:
        self.clock += timedelta(seconds=expect_s)

    async def finish(self, activity_id: str) -> None:
        self.finished.append(activity_id)
        activity = await self.store.get_activity(activity_id)
        assert activity is not None
        stopped = msgspec.structs.replace(activity, status="stopped", ended_at=self.clock)
        await self.store.save_activity(stopped)

    def spoken(self) -> list[str]:
        return [text for _, text, _ in self.lines]

    def cued(self, event_type: str) -> list[tuple[list[str], dict[str, Any]]]:
        return [(devices, fields) for kind, devices, fields in self.cues if kind == event_type]


PLACES = {"dev_kitchen": "Kitchen", "dev_lounge": "Lounge", "dev_garden": "Garden"}


async def start_activity(
    store: MemoryStore, activity_type: str, config: dict[str, Any], *, users: dict[str, str] | None = None
) -> ActivityRecord:
    """Three devices of one group, and an activity of theirs as the coordinator writes it."""
    returns: dict[str, Return] = {}
    for device_id, place in PLACES.items():
        await store.add_device(
            DeviceRecord(device_id, f"{place} speaker", "speaker", place, "home_a", [], T0, "jti")
        )
        user = (users or {}).get(device_id)
        if user is not None:
            until = T0 + timedelta(hours=1)
            own = SessionRecord(f"sess_own_{device_id}", device_id, "companion", user, {}, T0, until)
            await store.add_session(own)
            returns[device_id] = Return(session_id=own.session_id, persona_id="companion")
    activity = ActivityRecord(
        activity_id=f"act_{activity_type}",
        activity_type=activity_type,
        persona_id="entertainer",
        device_ids=list(PLACES),
        config=config,
        started_at=T0,
        starts_at=T0 + timedelta(seconds=1),
        group_id="home_a",
        returns=returns,
    )
    await store.save_activity(activity)
    return activity
