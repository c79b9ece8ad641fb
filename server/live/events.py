"""Changes to a device's session, as typed events for the live session that owns the device.

REST handlers (and the session-expiry timer) change the store, then publish one of
these over the `Bus` to whichever instance holds the device's socket. The live
session applies it at a frame boundary: it rebinds the persona (voice, prompt,
engine) and reloads or clears the conversation from the store, which stays the
truth; the conversation inside the graph is only a cache these events invalidate.

Each event carries an `event_id`; the live session answers it with an `Outcome`,
so a change whose live half fails is reported as failed.
"""

from __future__ import annotations

from typing import Literal

import msgspec


class _Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event"):
    event_id: str
    session_id: str


class PersonaChanged(_Event, frozen=True, kw_only=True, tag="persona_changed"):
    """The device's session now speaks as `persona_id` (`POST /devices/{id}/persona/switch`)."""

    persona_id: str
    previous_persona_id: str | None
    preserve_context: bool = True
    transition_message: str | None = None
    command_id: str
    """The `persona_switch` command the device is told of, and acknowledges."""


class SessionStarted(_Event, frozen=True, kw_only=True, tag="session_started"):
    """A session is the device's active one: a new one (`POST /sessions`, a group activity: fresh
    conversation), or the one it goes back to when its activity stops (its conversation as stored)."""

    persona_id: str
    activity_id: str | None = None


class SessionEnded(_Event, frozen=True, kw_only=True, tag="session_ended"):
    """The device's session ended (`DELETE /sessions/{id}`) or expired: its conversation is forgotten."""

    reason: Literal["ended", "expired"]


class HandedOffFrom(_Event, frozen=True, kw_only=True, tag="handed_off_from"):
    """The session left this device: stop talking at once, say goodbye if asked, forget it."""

    to_device_id: str
    to_place: str | None
    """Where the conversation goes on (the target's location or name), for the spoken line."""
    persona_id: str
    notify_user: bool


class HandedOffTo(_Event, frozen=True, kw_only=True, tag="handed_off_to"):
    """The session arrived on this device: continue it in its persona, with its context."""

    from_device_id: str
    persona_id: str
    notify_user: bool


class ContextChanged(_Event, frozen=True, kw_only=True, tag="context_changed"):
    """The session's stored conversation grew outside the live loop (a `POST /dialog/send` turn)."""


class Announcement(_Event, frozen=True, kw_only=True, tag="announcement"):
    """A broadcast's line to be spoken in the device's current persona's voice (`session_id` is "":
    it belongs to no conversation). `interrupt`: cut what the device is saying; otherwise it is
    said once the device has finished (at most `ANNOUNCE_WAIT_S` later)."""

    text: str
    interrupt: bool
    persona_id: str | None = None
    """Said in this persona's voice rather than the device's current one (a reminder, server/reminders)."""


SessionEvent = (
    PersonaChanged
    | SessionStarted
    | SessionEnded
    | HandedOffFrom
    | HandedOffTo
    | ContextChanged
    | Announcement
)


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    """What the live session answered to an event."""

    event_id: str
    applied: bool
    error: str | None = None
    """Why it was not applied (no text of what anybody said)."""
