"""Residents' profiles: what a persona may know of the resident it talks with (operators set it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from server.schemas.common import LABEL_PATTERN, Label, RequestBody

Note = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=LABEL_PATTERN)]
"""One preference or schedule note: a line of printable text, at most 200 characters."""
Notes = Annotated[list[Note], msgspec.Meta(max_length=16)]


class ResidentProfileRequest(RequestBody):
    """The whole profile (a `PUT` replaces it): at most 16 preferences and 16 schedule notes."""

    name: Label | None = None
    """What the persona calls the resident ("Margaret", "Mr Jones")."""
    preferences: Notes = msgspec.field(default_factory=list)
    """E.g. "tea with milk, no sugar", "hard of hearing on the left"."""
    schedule_notes: Notes = msgspec.field(default_factory=list)
    """E.g. "blood pressure tablet at nine", "daughter visits on Sundays"."""


class ResidentProfileResponse(msgspec.Struct, kw_only=True):
    user_id: str
    name: str | None
    preferences: list[str]
    schedule_notes: list[str]
    updated_at: datetime
