"""A reminder as `POST /reminders` asks for it, as the store keeps it, and as REST shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from server.schemas.common import Id, RequestBody

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OccurrenceState = Literal["due", "spoken", "confirmed", "missed", "unconfirmed"]
ReminderStatus = Literal["active", "finished"]
MAX_OCCURRENCES_KEPT = 50
"""A reminder keeps its newest occurrences only (a recurring one would otherwise grow forever)."""

Line = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"\S")]
Aware = Annotated[datetime, msgspec.Meta(tz=True)]
WindowS = Annotated[int, msgspec.Meta(ge=1, le=86_400)]
ConfirmWindowS = Annotated[int, msgspec.Meta(ge=0, le=86_400)]


class Recurrence(msgspec.Struct, frozen=True, kw_only=True):
    """How a reminder repeats after `at` (see server/reminders/recurrence.py)."""

    every: Literal["minutes", "day", "week"]
    interval: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    """Every `interval` minutes, days or weeks."""
    days: Annotated[list[Weekday], msgspec.Meta(max_length=7)] | None = None
    """Only on these weekdays (in `at`'s UTC offset). `week`: the days said in every `interval`-th
    week (default: `at`'s weekday); `minutes`, `day`: a filter on the times the interval gives."""
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] | None = None
    """At most this many occurrences in all (the first, at `at`, included)."""
    until: Aware | None = None
    """No occurrence after this moment."""


class ReminderRequest(RequestBody):
    """`POST /reminders`. Exactly one of `device_id` and `user_id`; exactly one of `text` and `prompt`
    (the document states both rules)."""

    at: Aware
    """The first time it is said (ISO 8601 with its UTC offset)."""
    device_id: Id | None = None
    user_id: Id | None = None
    """A resident: said on whichever device holds that resident's active session at the time."""
    text: Line | None = None
    """The words to say."""
    prompt: Line | None = None
    """What the persona is asked to say it about (its engine words the line at the time)."""
    persona_id: Id | None = None
    """Whose voice says it (default: the device's current persona)."""
    recurrence: Recurrence | None = None
    confirmation_window_s: ConfirmWindowS = 600
    """How long after it is said a spoken confirmation counts; 0: none is asked for."""
    missed_window_s: WindowS = 900
    """How long after its time it may still be said once the device is back; then it is missed."""

    def __post_init__(self) -> None:
        if (self.device_id is None) == (self.user_id is None):
            raise ValueError("give exactly one of `device_id` and `user_id`")
        if (self.text is None) == (self.prompt is None):
            raise ValueError("give exactly one of `text` and `prompt`")


class Occurrence(msgspec.Struct, frozen=True, kw_only=True):
    due_at: datetime
    state: OccurrenceState = "due"
    """`due`: waiting to be said (the device offline); `spoken`: said, waiting for a confirmation (or
    final, when none is asked for); `confirmed`; `missed`: not said within the missed window;
    `unconfirmed`: said, no confirmation within its window (an alert was raised)."""
    device_id: str | None = None
    """The device it was said on."""
    spoken_at: datetime | None = None
    confirmed_at: datetime | None = None
    missed_at: datetime | None = None
    alert_id: str | None = None


class ReminderRecord(msgspec.Struct, frozen=True, kw_only=True):
    reminder_id: str
    at: datetime
    device_id: str | None
    user_id: str | None
    text: str | None
    prompt: str | None
    persona_id: str | None
    recurrence: Recurrence | None
    confirmation_window_s: int
    missed_window_s: int
    created_at: datetime
    created_by: str
    status: ReminderStatus = "active"
    next_due_at: datetime | None = None
    """The next occurrence not yet begun (None: the series is over)."""
    made: int = 0
    """Occurrences begun so far (for `recurrence.count`)."""
    occurrences: list[Occurrence] = []
    """The newest `MAX_OCCURRENCES_KEPT`, oldest first; the last may be under way."""


class Reminder(msgspec.Struct, frozen=True, kw_only=True):
    """`GET /reminders/{id}`, `POST /reminders`: the reminder with its occurrences."""

    reminder_id: str
    at: datetime
    device_id: str | None
    user_id: str | None
    text: str | None
    prompt: str | None
    persona_id: str | None
    recurrence: Recurrence | None
    confirmation_window_s: int
    missed_window_s: int
    created_at: datetime
    created_by: str
    status: ReminderStatus
    next_due_at: datetime | None
    occurrences: list[Occurrence]


class ReminderListResponse(msgspec.Struct, frozen=True, kw_only=True):
    reminders: list[Reminder]
    total: int
    next_cursor: str | None


def reminder_view(record: ReminderRecord) -> Reminder:
    fields = msgspec.structs.asdict(record)
    del fields["made"]
    return Reminder(**fields)
