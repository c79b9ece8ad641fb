"""`EventHub`: where the server's parts report what happened, for the operator event stream.

Every hook is a plain call that never waits: it puts the event on a bounded queue and
returns (the voice loop is never held up by the stream). One publisher task per instance
adds the device's group (from the store, cached briefly) and appends what is queued to the
`EventLog` in batches. If the queue is full (the log unreachable for long), new events are
dropped and counted, never waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from server.events.log import EventLog
from server.events.messages import (
    ActivityProgress,
    CommandAcked,
    DeviceStatus,
    Entry,
    HandedOff,
    Payload,
    PersonaSwitched,
    TurnFinished,
    encode_entry,
)
from server.live.events import HandedOffTo, PersonaChanged, SessionEvent
from server.state.errors import StoreUnreachable

if TYPE_CHECKING:
    from server.state.base import Store

log = logging.getLogger(__name__)

GROUP_TTL_S = 30.0
"""How long a device's group is taken from the cache (a device moved to another group shows so after)."""
RETRY_S = 0.5
BATCH = 256
_NO_GROUP = ""


class EventHub:
    def __init__(self, *, log: EventLog, store: Store, queue_size: int = 10_000) -> None:
        self.log = log
        self._store = store
        self._queue: asyncio.Queue[tuple[Payload, str | None, str | None, str]] = asyncio.Queue(queue_size)
        self._groups: dict[str, tuple[str | None, float]] = {}
        self._statuses: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.published = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._publish_loop(), name="operator-events")

    async def close(self) -> None:
        if self._task is not None:
            with contextlib.suppress(TimeoutError):  # what is queued goes out first, briefly
                async with asyncio.timeout(1.0):
                    await self._queue.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.log.close()

    # The hooks: one call each, never blocking.

    def emit(self, payload: Payload, *, device_id: str | None, group_id: str | None = None) -> None:
        at = datetime.now(UTC).isoformat()
        try:
            self._queue.put_nowait((payload, device_id, group_id, at))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("operator events dropped (queue full): %d so far", self.dropped)

    def device_status(
        self, device_id: str, status: Literal["online", "offline", "busy"], *, quiet: bool = False
    ) -> None:
        """The device's presence as this instance wrote it; only changes are published. `quiet`: noted,
        not published (a connection replaced by one on another instance, which says `online`)."""
        if self._statuses.get(device_id) == status:
            return
        if status == "offline":
            self._statuses.pop(device_id, None)
        else:
            self._statuses[device_id] = status
        if not quiet:
            self.emit(DeviceStatus(status=status), device_id=device_id)

    def turn_finished(
        self,
        device_id: str,
        *,
        session_id: str | None,
        persona_id: str | None,
        latency_ms: float | None,
        source: Literal["voice", "text_input", "dialog"],
        user_text: str | None = None,
        reply_text: str | None = None,
        interrupted: bool = False,
    ) -> None:
        turn = TurnFinished(
            session_id=session_id or None,
            persona_id=persona_id or None,
            latency_ms=None if latency_ms is None else round(latency_ms, 1),
            source=source,
            interrupted=interrupted,
            user_text=user_text,
            reply_text=reply_text,
        )
        self.emit(turn, device_id=device_id)

    def command_acked(self, device_id: str, command_id: str, command_type: str | None = None) -> None:
        self.emit(CommandAcked(command_id=command_id, command_type=command_type), device_id=device_id)

    def session_change(self, device_id: str, event: SessionEvent) -> None:
        """A change the device's live session applied: persona switches and handoffs are published
        (a handoff by the device it arrived on); other changes are not operator events."""
        match event:
            case PersonaChanged():
                switched = PersonaSwitched(
                    session_id=event.session_id,
                    persona_id=event.persona_id,
                    previous_persona_id=event.previous_persona_id,
                )
                self.emit(switched, device_id=device_id)
            case HandedOffTo():
                moved = HandedOff(
                    session_id=event.session_id,
                    from_device_id=event.from_device_id,
                    to_device_id=device_id,
                    persona_id=event.persona_id,
                )
                self.emit(moved, device_id=device_id)
            case _:
                pass

    def activity(
        self,
        activity_id: str,
        state: str,
        *,
        device_id: str | None = None,
        group_id: str | None = None,
        **detail: str | int | float | bool | None,
    ) -> None:
        """A group activity's progress, for whoever runs activities to call (e.g. `state="round"`,
        `round=3`). `group_id` is the activity's group, if it has one."""
        progress = ActivityProgress(activity_id=activity_id, state=state, detail=dict(detail))
        self.emit(progress, device_id=device_id, group_id=group_id or _NO_GROUP)

    # The publisher.

    async def _publish_loop(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            while True:
                try:
                    entries = [await self._entry(*item) for item in batch]
                    await self.log.append([encode_entry(e) for e in entries])
                    self.published += len(entries)
                    break
                except StoreUnreachable:
                    await asyncio.sleep(RETRY_S)  # kept, in order; meanwhile new ones queue (bounded)
                except Exception as exc:  # the type only: an event's text may hold what someone said
                    log.error("operator events: %d not published: %s", len(batch), type(exc).__name__)
                    break
            for _ in batch:
                self._queue.task_done()

    async def _entry(self, payload: Payload, device_id: str | None, group_id: str | None, at: str) -> Entry:
        if group_id is None and device_id is not None:
            group_id = await self.group_of(device_id)
        return Entry(payload=payload, device_id=device_id, group_id=group_id or None, at=at)

    async def group_of(self, device_id: str) -> str | None:
        """The device's group (None: none, or the device is unknown), cached for `GROUP_TTL_S`."""
        cached = self._groups.get(device_id)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        device = await self._store.get_device(device_id)
        group = device.group_id if device is not None else None
        if len(self._groups) > 100_000:
            self._groups.clear()
        self._groups[device_id] = (group, now + GROUP_TTL_S)
        return group

    def cached_group(self, device_id: str) -> str | None:
        cached = self._groups.get(device_id)
        return cached[0] if cached is not None else None
