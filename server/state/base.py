"""The `Store` and `Bus` interfaces; `memory.py` and `redis.py` implement both.

Every method is async and safe to call from many tasks at once. The contract
suite in tests/state/ runs against every implementation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Protocol

from msgspec import UNSET, UnsetType

from pipeline.graph.pauses import PauseProfile
from pipeline.llm import ChatMessage
from server.live.events import Outcome
from server.state.records import (
    ActivityRecord,
    BusMessage,
    CommandRecord,
    DayMetrics,
    DeviceRecord,
    DeviceRuntime,
    DeviceSnapshot,
    Presence,
    RateCount,
    RateWindow,
    RuntimeChange,
    SessionRecord,
    TokenCheck,
)

__all__ = ["OUTCOME_TTL_S", "UNSET", "Bus", "Deliver", "Store", "UnsetType"]


class Store(Protocol):
    """Devices, tokens' revocation, sessions and their context, presence, limits, metrics."""

    backend: str
    """"memory" or "redis"."""

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...

    # Devices
    async def add_device(self, device: DeviceRecord) -> None: ...

    async def replace_device(self, device: DeviceRecord) -> None: ...

    async def get_device(self, device_id: str) -> DeviceRecord | None: ...

    async def list_devices(self) -> list[DeviceRecord]:
        """All devices, oldest registration first."""
        ...

    async def delete_device(self, device_id: str) -> bool:
        """Remove the device with its runtime, presence and metrics; False if it was unknown."""
        ...

    async def get_runtime(self, device_id: str) -> DeviceRuntime:
        """The device's runtime fields; all None for a device never active."""
        ...

    async def get_device_snapshot(self, device_id: str, day: date) -> DeviceSnapshot | None:
        """The device with its runtime, presence and `day`'s metrics, read at once (one round trip to a
        shared store); None for an unknown device."""
        ...

    async def update_runtime(
        self,
        device_id: str,
        *,
        active_persona_id: str | UnsetType | None = UNSET,
        active_session_id: str | UnsetType | None = UNSET,
        last_activity: datetime | UnsetType = UNSET,
    ) -> None:
        """Set only the fields given; each is written atomically on its own."""
        ...

    # Presence: one live socket per device, owned by one instance, kept alive by heartbeats.
    async def set_presence(self, device_id: str, presence: Presence, ttl_s: float) -> None: ...

    async def get_presence(self, device_id: str) -> Presence | None: ...

    async def clear_presence(self, device_id: str, instance_id: str) -> None:
        """Clear the presence only if `instance_id` still owns it."""
        ...

    async def claim_presence(self, device_id: str, presence: Presence, ttl_s: float) -> Presence | None:
        """Make `presence` (a new socket, named by its `connection_id`) the device's one owner, in one
        atomic step whatever other instances do at the same moment; returns the owner it replaced."""
        ...

    async def refresh_presence(self, device_id: str, presence: Presence, ttl_s: float) -> bool:
        """Rewrite the presence (status, TTL) only if `presence.connection_id` still owns it (or none
        does); False if a newer socket claimed the device."""
        ...

    async def release_presence(self, device_id: str, connection_id: str) -> None:
        """Clear the presence only if the socket `connection_id` still owns it (a socket closing
        never marks offline a device that a newer socket, even on the same instance, has claimed)."""
        ...

    # Token revocation
    async def revoke_token(self, jti: str, until: datetime) -> None:
        """Refuse token `jti` until `until` (its expiry; after that it is refused anyway)."""
        ...

    async def is_revoked(self, jti: str) -> bool: ...

    async def check_token(
        self, jti: str, *, device_id: str | None, count: RateCount | None = None
    ) -> TokenCheck:
        """A token's standing, and if it stands one hit of `count` counted (as `hit` counts), in one
        step: a REST request's whole token check. A device token (`device_id` given) stands only while
        that device is registered with `jti` as its token: otherwise `revoked`, or `unknown_device`
        if the store knows neither the device nor a revocation of `jti`. An operator token
        (`device_id` None) stands unless `jti` was revoked."""
        ...

    # Sessions and their conversation context
    async def add_session(self, session: SessionRecord) -> None: ...

    async def replace_session(self, session: SessionRecord) -> None: ...

    async def get_session(self, session_id: str) -> SessionRecord | None:
        """The session, expired or ended ones included (kept for a retention period)."""
        ...

    async def list_sessions(self, device_id: str | None = None) -> list[SessionRecord]:
        """Sessions (optionally of one device), oldest first."""
        ...

    async def append_context(self, session_id: str, messages: list[ChatMessage], keep_last: int) -> None:
        """Append to the session's conversation, keeping only the last `keep_last` messages."""
        ...

    async def get_context(self, session_id: str) -> list[ChatMessage]: ...

    async def clear_context(self, session_id: str) -> None:
        """Empty the conversation; what was learned of the speaker's pauses stays (same person)."""
        ...

    async def set_pause_profile(self, session_id: str, profile: PauseProfile) -> None:
        """Keep what a `learning` persona learned of the session's speaker's pauses (durations only),
        replacing what was kept; it lives as long as the session's context would."""
        ...

    async def get_pause_profile(self, session_id: str) -> PauseProfile | None:
        """What was kept for the session; None if nothing (or it expired with its session)."""
        ...

    # Rate limits: fixed windows shared by every instance.
    async def hit(self, key: str, window_s: int) -> RateWindow:
        """Count one request against `key` in the current `window_s` window."""
        ...

    # Device metrics, from real events
    async def record_interaction(self, device_id: str, latency_ms: float, at: datetime) -> None: ...

    async def get_day_metrics(self, device_id: str, day: date) -> DayMetrics: ...

    # Commands pushed down to devices, and their acks
    async def save_command(self, command: CommandRecord, ttl_s: int) -> None: ...

    async def get_command(self, command_id: str) -> CommandRecord | None: ...

    # Audio blobs (reply audio behind pre-signed URLs)
    async def put_blob(self, blob_id: str, data: bytes, ttl_s: int) -> None: ...

    async def get_blob(self, blob_id: str) -> bytes | None:
        """The blob, or None once it is unknown or past its TTL."""
        ...

    async def delete_blob(self, blob_id: str) -> None:
        """Let the blob go before its TTL (a no-op for one unknown or gone)."""
        ...

    # Group activities, and the reads and writes that fan out over their devices in one go
    async def save_activity(
        self,
        activity: ActivityRecord,
        *,
        sessions: Sequence[SessionRecord] = (),
        runtimes: Sequence[RuntimeChange] = (),
        commands: Sequence[CommandRecord] = (),
        command_ttl_s: int = 0,
    ) -> None:
        """Write the activity with its devices' sessions (added or replaced), runtime changes and
        commands, in one batch (one round trip to a shared store), whatever the number of devices."""
        ...

    async def get_activity(self, activity_id: str) -> ActivityRecord | None: ...

    async def list_activities(self) -> list[ActivityRecord]:
        """Every activity kept (a stopped one for the session retention), oldest start first."""
        ...

    async def save_commands(self, commands: Sequence[CommandRecord], ttl_s: int) -> None:
        """`save_command` for many at once (one round trip)."""
        ...

    async def get_devices(self, device_ids: Sequence[str]) -> list[DeviceRecord | None]:
        """Each device (None for an unknown one), in order, read at once."""
        ...

    async def get_presences(self, device_ids: Sequence[str]) -> list[Presence | None]:
        """Each device's presence, in order, read at once."""
        ...

    async def get_runtimes(self, device_ids: Sequence[str]) -> list[DeviceRuntime]:
        """Each device's runtime, in order, read at once."""
        ...

    async def get_sessions(self, session_ids: Sequence[str]) -> list[SessionRecord | None]:
        """Each session (None for one unknown or past its retention), in order, read at once."""
        ...


OUTCOME_TTL_S = 60
"""How long an answer to a session change waits to be taken."""

Deliver = Callable[[BusMessage], None]
"""Called on the instance that holds the device's socket, on its event loop."""


class Bus(Protocol):
    """Delivers messages to a device's socket, on whichever instance holds it."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def attach(self, device_id: str, deliver: Deliver) -> None:
        """Route the device's messages to `deliver` (this instance holds its socket).

        When it returns, a `send` from any instance reaches `deliver`. A newer
        attach for the same device replaces the older one on this instance.
        """
        ...

    async def detach(self, device_id: str, deliver: Deliver) -> None:
        """Stop routing to `deliver`, if it is still the one attached."""
        ...

    async def send(self, device_id: str, message: BusMessage) -> bool:
        """Deliver to the device's socket; False if no instance holds one."""
        ...

    async def send_many(self, messages: Sequence[tuple[str, BusMessage]]) -> list[bool]:
        """`send` for many (device, message) pairs at once (one round trip), in order."""
        ...

    async def answer(self, outcome: Outcome) -> None:
        """Publish the live session's answer to a `SessionChange`, for whoever waits on its event id."""
        ...

    async def outcome(self, event_id: str, timeout_s: float) -> Outcome | None:
        """The answer to the event `event_id`, from any instance; None if none came within `timeout_s`.

        An answer published before this is called is not lost: it waits (briefly) to be taken.
        """
        ...

    async def outcomes(self, event_ids: Sequence[str], timeout_s: float) -> dict[str, Outcome]:
        """The answers to many events, as they come, until all came or `timeout_s` passed (those that
        did not come are missing); one waiter for all of them, however many."""
        ...
