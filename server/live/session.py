"""The live session: the one owner of a connected device's live state on this instance.

Every change to the device's session reaches it as a typed event (`server.live.events`),
from the `Bus` or from its own expiry watch, and is applied here, one at a time and in
order, at a frame boundary of the device's graph. Each event is answered with an
`Outcome`, so the REST call that caused it can report a failure as one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from server.live.changes import new_event_id
from server.live.events import (
    Announcement,
    ContextChanged,
    HandedOffFrom,
    HandedOffTo,
    Outcome,
    PersonaChanged,
    SessionEnded,
    SessionEvent,
    SessionStarted,
)
from server.services.clock import utcnow
from server.state.errors import StoreUnreachable
from server.ws.connection import DeviceConnection

if TYPE_CHECKING:
    from pipeline.voices import Voice
    from server.services import Services
    from server.ws.voice_link import VoiceLink

log = logging.getLogger(__name__)

REPLY_RECHECK_S = 0.5
STORE_RETRY_S = 1.0
"""While the store is unreachable, how soon the expiry watch looks at the held session again."""
ANNOUNCE_WAIT_S = 60.0
"""How long a broadcast's line that does not interrupt waits for the device to finish what it is
saying; past it, the line cuts in."""
ARRIVAL_LINE = "Here I am again."
"""What the target of a handoff says with `notify_user`, in the session's persona's voice."""


def departure_line(place: str | None) -> str:
    """What the source of a handoff says with `notify_user`, before it forgets the conversation."""
    return f"Let's carry on in the {place}." if place else "Let's carry on over there."


class LiveSession:
    def __init__(self, *, services: Services, connection: DeviceConnection, device_id: str) -> None:
        self._services = services
        self._connection = connection
        self._device_id = device_id
        self._voice: VoiceLink | None = None
        self._events: asyncio.Queue[tuple[SessionEvent, float]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._waiting_lines: set[asyncio.Task[None]] = set()
        """Broadcast lines waiting for the device to finish what it is saying."""

    def start(self, voice: VoiceLink | None) -> None:
        """Apply changes from now on (those submitted before wait in order); `voice`: the device's
        running graph, None on a server without voice models."""
        self._voice = voice
        self._tasks.append(asyncio.create_task(self._apply_loop(), name=f"live-{self._device_id}"))
        if self._voice is not None:
            self._tasks.append(asyncio.create_task(self._watch_expiry(), name=f"expiry-{self._device_id}"))

    async def stop(self) -> None:
        self._tasks.extend(self._waiting_lines)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def submit(self, event: SessionEvent) -> None:
        """Queue a change (the bus's callback: it never blocks)."""
        self._events.put_nowait((event, time.perf_counter()))

    async def _apply_loop(self) -> None:
        while True:
            event, arrived = await self._events.get()
            try:
                await self._apply(event)
            except Exception as exc:
                # Ids and the kind of failure only: an exception's text may quote what someone said.
                log.warning(
                    "device %s: %s %s not applied: %s",
                    self._device_id,
                    type(event).__name__,
                    event.event_id,
                    type(exc).__name__,
                )
                outcome = Outcome(event_id=event.event_id, applied=False, error=type(exc).__name__)
            else:
                outcome = Outcome(event_id=event.event_id, applied=True)
                self._services.events.session_change(self._device_id, event)  # switches, handoffs
                kind = event.__struct_config__.tag
                self._services.latency.record_change(str(kind), (time.perf_counter() - arrived) * 1000)
            try:
                await self._services.bus.answer(outcome)
            except StoreUnreachable:  # the publisher's wait times out: it reports LIVE_UPDATE_FAILED
                log.warning(
                    "device %s: the outcome of %s could not be published", self._device_id, event.event_id
                )

    async def _apply(self, event: SessionEvent) -> None:
        voice = self._voice
        sessions = self._services.sessions
        match event:
            case PersonaChanged():
                if voice is not None:
                    await voice.switch_persona(event)
                command = await self._services.store.get_command(event.command_id)
                if command is not None:  # the device hears of the switch once its graph has made it
                    self._connection.send_command(command)
            case SessionStarted() if voice is not None:
                await voice.follow(await sessions.get(event.session_id))
            case SessionEnded() if voice is not None:
                await voice.forget(event.session_id)
                if event.reason == "expired":  # an expired session is no longer the device's active one
                    store = self._services.store
                    if (await store.get_runtime(self._device_id)).active_session_id == event.session_id:
                        await store.update_runtime(self._device_id, active_session_id=None)
            case HandedOffFrom() if voice is not None:
                line = departure_line(event.to_place) if event.notify_user else None
                await voice.forget(event.session_id, line=line, stop_playback=True)
            case HandedOffTo() if voice is not None:
                line = ARRIVAL_LINE if event.notify_user else None
                await voice.follow(await sessions.get(event.session_id), line=line)
            case ContextChanged() if voice is not None:
                await voice.reload(event.session_id)
            case Announcement() if voice is not None:
                speaker = voice.voice_of(event.persona_id)
                if event.interrupt or not voice.replying:
                    await self._say(voice, event.text, cut=event.interrupt, speaker=speaker)
                else:  # said once the device is quiet; meanwhile other changes are applied
                    task = asyncio.create_task(self._say_when_quiet(voice, event.text, speaker))
                    self._waiting_lines.add(task)
                    task.add_done_callback(self._waiting_lines.discard)
            case _:
                pass  # without a voice loop there is nothing live to change

    @staticmethod
    async def _say(voice: VoiceLink, text: str, *, cut: bool, speaker: Voice | None = None) -> None:
        """Speak `text` in the voice the device has now (the path a handoff's line takes), or `speaker`."""
        if cut:
            await voice.session.cut()  # whatever is playing stops on the device too
        await voice.session.say(text, speaker)

    async def _say_when_quiet(self, voice: VoiceLink, text: str, speaker: Voice | None) -> None:
        # Woken the moment the reply ends; past the wait, the line cuts in.
        await voice.wait_quiet(ANNOUNCE_WAIT_S)
        await self._say(voice, text, cut=voice.replying, speaker=speaker)

    async def _watch_expiry(self) -> None:
        """Apply `SessionEnded("expired")` when the held session's quiet spell runs out.

        Turns push the expiry out; this re-reads the session when its time comes
        and waits again if it was extended.
        """
        assert self._voice is not None
        voice = self._voice
        while True:
            session_id = voice.held_session_id
            try:
                session = await self._services.store.get_session(session_id) if session_id else None
            except StoreUnreachable:  # the store is away: look again shortly (no expiry is missed for it)
                await asyncio.sleep(STORE_RETRY_S)
                continue
            if session is None or session.status != "active":
                await voice.held_changed()
                continue
            remaining_s = (session.expires_at - utcnow()).total_seconds()
            if remaining_s <= 0 and voice.replying:
                remaining_s = (
                    REPLY_RECHECK_S  # a turn under way is no quiet spell: its end extends the session
                )
            if remaining_s > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining_s + 0.05):
                        await voice.held_changed()
                continue
            self.submit(SessionEnded(event_id=new_event_id(), session_id=session_id, reason="expired"))
            await voice.held_changed()
