"""Multi-device coordination endpoints (§8.7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from server.activities.config import check_config
from server.schemas.common import Id, Label, Metadata, RequestBody

ActivityType = Literal["trivia", "story", "sync_playback"]
CONFIG_DESCRIPTION = (
    "Per activity_type. trivia: difficulty (easy|medium|hard), rounds (1-30), answer_window_s (2-120), "
    "topics, questions (ids, at least `rounds`). story: story, vote_window_s (2-120). sync_playback: "
    "media (a library file name, else 404 MEDIA_NOT_FOUND), position_s. Other keys are ignored (a "
    "sync_playback passes them to its devices); a known key of the wrong type, or a value the activity "
    "cannot play (an unknown topic, story or question, more rounds than questions), is refused with 422."
)


class GroupActivityRequest(RequestBody):
    activity_type: ActivityType
    device_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=100)]
    persona_id: Id
    config: Annotated[Metadata, msgspec.Meta(description=CONFIG_DESCRIPTION)] = msgspec.field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        check_config(self.activity_type, self.config)  # trivia and story: what their runner can play


class GroupActivityResponse(msgspec.Struct, kw_only=True):
    activity_id: str
    activity_type: str
    persona_id: str
    device_ids: list[str]
    session_ids: dict[str, str]
    """The session each device runs the activity in."""
    config: dict[str, Any]
    started_at: datetime
    starts_at: datetime
    """When devices begin together (sent to each in its sync_event)."""


ALL = "all"
ALL_NEEDS_GROUP = '`target_devices: ["all"]` means every device of one group: give `group_id`'
ALL_STANDS_ALONE = '`"all"` stands alone in `target_devices`: list device ids, or ["all"] with `group_id`'
BroadcastPriority = Annotated[int, msgspec.Meta(ge=0, le=10)]
INTERRUPT_PRIORITY = 8
"""A broadcast's spoken line at this priority or above cuts what the device is saying."""
Spoken = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=r"\S")]


class BroadcastRequest(RequestBody):
    event_type: Label
    target_devices: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=1000)]
    """Device ids, all of one group (`group_id` if given), or ["all"] with `group_id`: every device
    of that group. ["all"] without `group_id` is refused (422): a broadcast never leaves its facility."""
    payload: Metadata
    group_id: Label | None = None
    speak: Spoken | None = None
    """A line each device says in its current persona's voice (and receives in its `sync_event`)."""
    priority: BroadcastPriority = 5
    """The `sync_event`'s priority; from 8 up, the spoken line interrupts what the device is saying,
    below it waits until the device has finished."""

    def __post_init__(self) -> None:
        if ALL in self.target_devices:
            if len(self.target_devices) > 1:
                raise ValueError(ALL_STANDS_ALONE)
            if self.group_id is None:
                raise ValueError(ALL_NEEDS_GROUP)


class BroadcastResponse(msgspec.Struct, kw_only=True):
    event_id: str
    event_type: str
    delivered: list[str]
    offline: list[str]
    spoken: list[str] = []
    """Devices whose live voice loop took the spoken line (none without `speak` or voice models)."""


ActivityStatus = Literal["running", "stopped"]


class ActivityResponse(msgspec.Struct, kw_only=True):
    """A group activity as it stands (`GET /coordination/activities/{id}`)."""

    activity_id: str
    activity_type: str
    persona_id: str
    group_id: str | None
    status: ActivityStatus
    device_ids: list[str]
    session_ids: dict[str, str]
    """The session each device takes part in."""
    config: dict[str, Any]
    started_at: datetime
    starts_at: datetime
    ended_at: datetime | None
    """When it was stopped; null while it runs."""
    scores: dict[str, int]
    """Per device (or user), for activities that keep score; empty otherwise."""
    current_round: int | None
    """The round under way, for activities in rounds; null otherwise."""


class ActivityListResponse(msgspec.Struct, kw_only=True):
    activities: list[ActivityResponse]
    total: int
    next_cursor: str | None
