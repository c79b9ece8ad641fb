"""`MemoryStore` and `MemoryBus`: state in this process's dicts (the embedded default).

Reads are plain dict lookups; an entry with a deadline (presence, revocation,
rate window, command, session past its retention) is dropped when a read finds
it past due, and every `sweep_interval_s` a write sweeps all of them, so that
memory stays bounded by what is live. All deadlines are wall-clock epoch
seconds, like the datetimes they come from.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

import msgspec

from pipeline.graph.pauses import PauseProfile
from pipeline.llm import ChatMessage
from server.live.events import Outcome
from server.state.base import OUTCOME_TTL_S, UNSET, Deliver, UnsetType
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
    TokenStanding,
)

K = TypeVar("K")
V = TypeVar("V")


class _Expiring(Generic[K, V]):
    """A dict whose entries vanish at their deadline: checked on read, swept in bulk."""

    def __init__(self) -> None:
        self._items: dict[K, tuple[float, V]] = {}

    def get(self, key: K, now: float) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= now:
            del self._items[key]
            return None
        return item[1]

    def deadline(self, key: K, now: float) -> float | None:
        """When the live entry for `key` expires; None if there is none."""
        item = self._items.get(key)
        return item[0] if item is not None and item[0] > now else None

    def put(self, key: K, value: V, deadline: float) -> None:
        self._items[key] = (deadline, value)

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def live(self, now: float) -> Iterator[V]:
        return (value for deadline, value in self._items.values() if deadline > now)

    def sweep(self, now: float) -> None:
        self._items = {k: item for k, item in self._items.items() if item[0] > now}


class MemoryStore:
    """A `Store` for one process. Nothing survives a restart."""

    backend = "memory"

    def __init__(
        self,
        *,
        session_retention_s: int = 86400,
        metrics_retention_days: int = 7,
        sweep_interval_s: float = 60.0,
    ) -> None:
        self._retention_s = session_retention_s
        self._metrics_days = metrics_retention_days
        self._sweep_interval_s = sweep_interval_s
        self._next_sweep = time.time() + sweep_interval_s
        self._devices: dict[str, DeviceRecord] = {}
        self._runtimes: dict[str, DeviceRuntime] = {}
        self._metrics: dict[str, dict[date, DayMetrics]] = {}
        self._activities: _Expiring[str, ActivityRecord] = _Expiring()
        self._presence: _Expiring[str, Presence] = _Expiring()
        self._revoked: _Expiring[str, bool] = _Expiring()
        self._sessions: _Expiring[str, SessionRecord] = _Expiring()
        self._contexts: _Expiring[str, list[ChatMessage]] = _Expiring()
        self._pauses: _Expiring[str, PauseProfile] = _Expiring()
        self._rates: _Expiring[str, tuple[int, int]] = _Expiring()
        self._commands: _Expiring[str, CommandRecord] = _Expiring()
        self._blobs: _Expiring[str, bytes] = _Expiring()

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        """Nothing to release."""

    # Devices
    async def add_device(self, device: DeviceRecord) -> None:
        self._devices[device.device_id] = device

    async def replace_device(self, device: DeviceRecord) -> None:
        """Overwrite a known device; a no-op for an unknown (e.g. just deleted) one."""
        if device.device_id in self._devices:
            self._devices[device.device_id] = device

    async def get_device(self, device_id: str) -> DeviceRecord | None:
        return self._devices.get(device_id)

    async def list_devices(self) -> list[DeviceRecord]:
        return sorted(self._devices.values(), key=lambda d: (d.created_at, d.device_id))

    async def delete_device(self, device_id: str) -> bool:
        self._runtimes.pop(device_id, None)
        self._metrics.pop(device_id, None)
        self._presence.pop(device_id)
        return self._devices.pop(device_id, None) is not None

    async def get_runtime(self, device_id: str) -> DeviceRuntime:
        return self._runtimes.get(device_id) or DeviceRuntime()

    async def get_device_snapshot(self, device_id: str, day: date) -> DeviceSnapshot | None:
        device = self._devices.get(device_id)
        if device is None:
            return None
        return DeviceSnapshot(
            device=device,
            runtime=await self.get_runtime(device_id),
            presence=await self.get_presence(device_id),
            day=await self.get_day_metrics(device_id, day),
        )

    async def update_runtime(
        self,
        device_id: str,
        *,
        active_persona_id: str | UnsetType | None = UNSET,
        active_session_id: str | UnsetType | None = UNSET,
        last_activity: datetime | UnsetType = UNSET,
    ) -> None:
        given = {
            "active_persona_id": active_persona_id,
            "active_session_id": active_session_id,
            "last_activity": last_activity,
        }
        changes: dict[str, Any] = {name: value for name, value in given.items() if value is not UNSET}
        current = self._runtimes.get(device_id) or DeviceRuntime()
        self._runtimes[device_id] = msgspec.structs.replace(current, **changes)

    # Presence
    async def set_presence(self, device_id: str, presence: Presence, ttl_s: float) -> None:
        now = self._now_and_sweep()
        self._presence.put(device_id, presence, now + ttl_s)

    async def get_presence(self, device_id: str) -> Presence | None:
        return self._presence.get(device_id, time.time())

    async def clear_presence(self, device_id: str, instance_id: str) -> None:
        current = self._presence.get(device_id, time.time())
        if current is not None and current.instance_id == instance_id:
            self._presence.pop(device_id)

    async def claim_presence(self, device_id: str, presence: Presence, ttl_s: float) -> Presence | None:
        now = self._now_and_sweep()
        previous = self._presence.get(device_id, now)
        self._presence.put(device_id, presence, now + ttl_s)
        return previous

    async def refresh_presence(self, device_id: str, presence: Presence, ttl_s: float) -> bool:
        now = self._now_and_sweep()
        current = self._presence.get(device_id, now)
        if current is not None and current.connection_id != presence.connection_id:
            return False
        self._presence.put(device_id, presence, now + ttl_s)
        return True

    async def release_presence(self, device_id: str, connection_id: str) -> None:
        current = self._presence.get(device_id, time.time())
        if current is not None and current.connection_id == connection_id:
            self._presence.pop(device_id)

    # Token revocation
    async def revoke_token(self, jti: str, until: datetime) -> None:
        self._now_and_sweep()
        self._revoked.put(jti, True, until.timestamp())

    async def is_revoked(self, jti: str) -> bool:
        return self._revoked.get(jti, time.time()) is not None

    async def check_token(
        self, jti: str, *, device_id: str | None, count: RateCount | None = None
    ) -> TokenCheck:
        if device_id is None:
            standing: TokenStanding = "revoked" if await self.is_revoked(jti) else "ok"
        elif (device := self._devices.get(device_id)) is not None:
            standing = "ok" if device.token_jti == jti else "revoked"
        else:
            standing = "revoked" if await self.is_revoked(jti) else "unknown_device"
        if standing != "ok" or count is None:
            return TokenCheck(standing=standing)
        return TokenCheck(standing=standing, window=await self.hit(count.key, count.window_s))

    # Sessions and their context
    async def add_session(self, session: SessionRecord) -> None:
        self._now_and_sweep()
        self._put_session(session)

    async def replace_session(self, session: SessionRecord) -> None:
        """Overwrite a known session; a no-op for one unknown or past its retention."""
        if self._sessions.get(session.session_id, self._now_and_sweep()) is not None:
            self._put_session(session)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._sessions.get(session_id, time.time())

    async def list_sessions(self, device_id: str | None = None) -> list[SessionRecord]:
        found = [s for s in self._sessions.live(time.time()) if device_id is None or s.device_id == device_id]
        return sorted(found, key=lambda s: (s.created_at, s.session_id))

    async def append_context(self, session_id: str, messages: list[ChatMessage], keep_last: int) -> None:
        """Append; the context lives as long as its session (or the retention, without one)."""
        if keep_last < 1:
            raise ValueError("keep_last must be at least 1")
        now = self._now_and_sweep()
        kept = ([*(self._contexts.get(session_id, now) or []), *messages])[-keep_last:]
        deadline = self._sessions.deadline(session_id, now) or now + self._retention_s
        self._contexts.put(session_id, kept, deadline)

    async def get_context(self, session_id: str) -> list[ChatMessage]:
        return list(self._contexts.get(session_id, time.time()) or [])

    async def clear_context(self, session_id: str) -> None:
        self._contexts.pop(session_id)

    async def set_pause_profile(self, session_id: str, profile: PauseProfile) -> None:
        """Kept as long as its session (or the retention, without one), like the context."""
        now = self._now_and_sweep()
        deadline = self._sessions.deadline(session_id, now) or now + self._retention_s
        self._pauses.put(session_id, profile, deadline)

    async def get_pause_profile(self, session_id: str) -> PauseProfile | None:
        return self._pauses.get(session_id, time.time())

    # Rate limits
    async def hit(self, key: str, window_s: int) -> RateWindow:
        now = self._now_and_sweep()
        index = int(now // window_s)
        end = (index + 1) * window_s
        current = self._rates.get(key, now)
        count = current[1] + 1 if current is not None and current[0] == index else 1
        self._rates.put(key, (index, count), end)
        return RateWindow(count=count, reset_in_s=end - now)

    # Metrics
    async def record_interaction(self, device_id: str, latency_ms: float, at: datetime) -> None:
        self._now_and_sweep()
        day = _utc_day(at)
        days = self._metrics.setdefault(device_id, {})
        current = days.get(day) or DayMetrics(day=day)
        days[day] = DayMetrics(
            day=day,
            interactions=current.interactions + 1,
            latency_ms_total=current.latency_ms_total + latency_ms,
        )

    async def get_day_metrics(self, device_id: str, day: date) -> DayMetrics:
        return self._metrics.get(device_id, {}).get(day) or DayMetrics(day=day)

    # Commands and activities
    async def save_command(self, command: CommandRecord, ttl_s: int) -> None:
        now = self._now_and_sweep()
        self._commands.put(command.command_id, command, now + ttl_s)

    async def get_command(self, command_id: str) -> CommandRecord | None:
        return self._commands.get(command_id, time.time())

    async def put_blob(self, blob_id: str, data: bytes, ttl_s: int) -> None:
        self._blobs.put(blob_id, data, self._now_and_sweep() + ttl_s)

    async def get_blob(self, blob_id: str) -> bytes | None:
        return self._blobs.get(blob_id, time.time())

    async def delete_blob(self, blob_id: str) -> None:
        self._blobs.pop(blob_id)

    async def save_activity(
        self,
        activity: ActivityRecord,
        *,
        sessions: Sequence[SessionRecord] = (),
        runtimes: Sequence[RuntimeChange] = (),
        commands: Sequence[CommandRecord] = (),
        command_ttl_s: int = 0,
    ) -> None:
        """A running activity is kept until it stops; a stopped one for the session retention."""
        now = self._now_and_sweep()
        kept_until = math.inf if activity.ended_at is None else activity.ended_at.timestamp()
        self._activities.put(activity.activity_id, activity, kept_until + self._retention_s)
        for session in sessions:
            self._put_session(session)
        for change in runtimes:
            current = self._runtimes.get(change.device_id) or DeviceRuntime()
            self._runtimes[change.device_id] = DeviceRuntime(
                active_persona_id=change.active_persona_id,
                active_session_id=change.active_session_id,
                last_activity=change.last_activity or current.last_activity,
            )
        for command in commands:
            self._commands.put(command.command_id, command, now + command_ttl_s)

    async def get_activity(self, activity_id: str) -> ActivityRecord | None:
        return self._activities.get(activity_id, time.time())

    async def list_activities(self) -> list[ActivityRecord]:
        found = self._activities.live(time.time())
        return sorted(found, key=lambda a: (a.started_at, a.activity_id))

    async def save_commands(self, commands: Sequence[CommandRecord], ttl_s: int) -> None:
        now = self._now_and_sweep()
        for command in commands:
            self._commands.put(command.command_id, command, now + ttl_s)

    async def get_devices(self, device_ids: Sequence[str]) -> list[DeviceRecord | None]:
        return [self._devices.get(device_id) for device_id in device_ids]

    async def get_presences(self, device_ids: Sequence[str]) -> list[Presence | None]:
        now = time.time()
        return [self._presence.get(device_id, now) for device_id in device_ids]

    async def get_runtimes(self, device_ids: Sequence[str]) -> list[DeviceRuntime]:
        return [self._runtimes.get(device_id) or DeviceRuntime() for device_id in device_ids]

    async def get_sessions(self, session_ids: Sequence[str]) -> list[SessionRecord | None]:
        now = time.time()
        return [self._sessions.get(session_id, now) for session_id in session_ids]

    def _put_session(self, session: SessionRecord) -> None:
        """Keep the session (its context and pause profile too) until `retention_s` after it expires."""
        deadline = session.expires_at.timestamp() + self._retention_s
        now = time.time()
        self._sessions.put(session.session_id, session, deadline)
        context = self._contexts.get(session.session_id, now)
        if context is not None:
            self._contexts.put(session.session_id, context, deadline)
        pauses = self._pauses.get(session.session_id, now)
        if pauses is not None:
            self._pauses.put(session.session_id, pauses, deadline)

    def _now_and_sweep(self) -> float:
        """The time; past each sweep interval, first drop everything that expired."""
        now = time.time()
        if now >= self._next_sweep:
            self._next_sweep = now + self._sweep_interval_s
            self._presence.sweep(now)
            self._revoked.sweep(now)
            self._sessions.sweep(now)
            self._contexts.sweep(now)
            self._pauses.sweep(now)
            self._rates.sweep(now)
            self._commands.sweep(now)
            self._blobs.sweep(now)
            self._activities.sweep(now)
            oldest = datetime.fromtimestamp(now, UTC).date() - timedelta(days=self._metrics_days)
            for device_id in list(self._metrics):
                kept = {day: m for day, m in self._metrics[device_id].items() if day >= oldest}
                if kept:
                    self._metrics[device_id] = kept
                else:
                    del self._metrics[device_id]
        return now


def _utc_day(at: datetime) -> date:
    """The UTC calendar day of `at` (a naive datetime counts as UTC)."""
    return at.date() if at.tzinfo is None else at.astimezone(UTC).date()


class MemoryBus:
    """A `Bus` for one process: every device's socket is here, so delivery is a call."""

    def __init__(self) -> None:
        self._delivers: dict[str, Deliver] = {}
        self._outcomes: _Expiring[str, asyncio.Future[Outcome]] = _Expiring()

    async def start(self) -> None:
        """Nothing to start."""

    async def close(self) -> None:
        self._delivers.clear()

    async def attach(self, device_id: str, deliver: Deliver) -> None:
        self._delivers[device_id] = deliver

    async def detach(self, device_id: str, deliver: Deliver) -> None:
        # Equality, not identity: each access to a bound method makes a new, equal object.
        if self._delivers.get(device_id) == deliver:
            del self._delivers[device_id]

    async def send(self, device_id: str, message: BusMessage) -> bool:
        deliver = self._delivers.get(device_id)
        if deliver is None:
            return False
        deliver(message)
        return True

    async def send_many(self, messages: Sequence[tuple[str, BusMessage]]) -> list[bool]:
        return [await self.send(device_id, message) for device_id, message in messages]

    async def answer(self, outcome: Outcome) -> None:
        self._outcomes.sweep(time.monotonic())  # answers nobody waited for (the waiter timed out)
        future = self._outcome_future(outcome.event_id)
        if not future.done():
            future.set_result(outcome)

    async def outcome(self, event_id: str, timeout_s: float) -> Outcome | None:
        future = self._outcome_future(event_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout_s)
        except TimeoutError:
            return None
        finally:
            self._outcomes.pop(event_id)

    async def outcomes(self, event_ids: Sequence[str], timeout_s: float) -> dict[str, Outcome]:
        futures = {event_id: self._outcome_future(event_id) for event_id in event_ids}
        try:
            if futures:
                await asyncio.wait(futures.values(), timeout=timeout_s)
            return {event_id: f.result() for event_id, f in futures.items() if f.done()}
        finally:
            for event_id in event_ids:
                self._outcomes.pop(event_id)

    def _outcome_future(self, event_id: str) -> asyncio.Future[Outcome]:
        """The one future of an event's answer, made by whichever side comes first; kept a minute."""
        now = time.monotonic()
        future = self._outcomes.get(event_id, now)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._outcomes.put(event_id, future, now + OUTCOME_TTL_S)
        return future
