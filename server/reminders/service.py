"""`Reminders`: scheduling, saying, confirming and missing reminders; one scheduler task per instance.

The scheduler takes what is due from the `ReminderStore` (leased to this instance: see store.py),
moves each reminder on (`_step`) and sleeps until the next due time it knows of, at most
`reminder_poll_s` (another instance may have added an earlier one). It runs beside the voice loop:
saying a line is one `Announcement` published over the bus, nothing here waits on a device's audio.

An occurrence is `due` at its time. The device speaks it if it is connected; if not, the scheduler
tries again every `reminder_poll_s` until `missed_window_s` after its time, when it is `missed`.
Once `spoken`, a spoken confirmation within `confirmation_window_s` makes it `confirmed` (`heard`,
the hook the voice loop calls with each final transcript and typed turn); past the window it is
`unconfirmed` and raises a `reminder_unconfirmed` alert. Each change goes to the operator event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec

from server.alerts.service import Alerts
from server.events.hub import EventHub
from server.events.messages import ReminderUpdate
from server.reminders.confirm import confirms
from server.reminders.errors import too_many
from server.reminders.records import (
    MAX_OCCURRENCES_KEPT,
    Occurrence,
    ReminderRecord,
    ReminderRequest,
)
from server.reminders.recurrence import next_due
from server.reminders.speaking import Speaker
from server.reminders.store import ReminderStore
from server.state.errors import StoreUnreachable

log = logging.getLogger(__name__)

CLAIM_BATCH = 20
SAID_KEY_TTL_S = 2 * 86_400
ALERT_RULE = "reminder_unconfirmed"
ALERT_SEVERITY: Final = "warning"
_replace = msgspec.structs.replace


class Reminders:
    def __init__(
        self,
        *,
        store: ReminderStore,
        speaker: Speaker,
        alerts: Alerts,
        events: EventHub,
        poll_s: float,
        lease_s: float,
        max_reminders: int,
    ) -> None:
        self.store = store
        self._speaker = speaker
        self._alerts = alerts
        self._events = events
        self._poll_s = poll_s
        self._lease_s = lease_s
        self._max = max_reminders
        self._wake = asyncio.Event()
        self._heard: asyncio.Queue[tuple[str, datetime]] = asyncio.Queue(1000)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._schedule_loop(), name="reminders"),
            asyncio.create_task(self._confirm_loop(), name="reminder-confirmations"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.store.close()

    # REST

    async def create(self, request: ReminderRequest, created_by: str) -> ReminderRecord:
        if await self.store.count() >= self._max:
            raise too_many(self._max)
        record = ReminderRecord(
            reminder_id=f"rem_{secrets.token_hex(8)}",
            at=request.at,
            device_id=request.device_id,
            user_id=request.user_id,
            text=request.text,
            prompt=request.prompt,
            persona_id=request.persona_id,
            recurrence=request.recurrence,
            confirmation_window_s=request.confirmation_window_s,
            missed_window_s=request.missed_window_s,
            created_at=datetime.now(UTC),
            created_by=created_by,
            next_due_at=request.at,
        )
        await self.store.add(record, request.at.timestamp())
        self._wake.set()
        return record

    async def delete(self, reminder_id: str) -> bool:
        record = await self.store.get(reminder_id)
        if record is not None and record.occurrences and record.occurrences[-1].device_id:
            await self.store.await_confirmation(record.occurrences[-1].device_id, reminder_id, False)
        return await self.store.delete(reminder_id)

    # The voice loop's hook

    def heard(self, device_id: str, text: str) -> None:
        """A final transcript or typed turn of `device_id`: a confirmation is recorded in the background."""
        if confirms(text):
            with contextlib.suppress(asyncio.QueueFull):
                self._heard.put_nowait((device_id, datetime.now(UTC)))

    async def _confirm_loop(self) -> None:
        while True:
            device_id, at = await self._heard.get()
            try:
                await self._confirm(device_id, at)
            except Exception as exc:  # the type only, as everywhere words pass
                log.error("reminders: a confirmation on %s not recorded: %s", device_id, type(exc).__name__)

    async def _confirm(self, device_id: str, at: datetime) -> None:
        for reminder_id in await self.store.awaiting(device_id):
            record = await self.store.get(reminder_id)
            occurrence = record.occurrences[-1] if record is not None and record.occurrences else None
            if record is None or occurrence is None or not _awaiting(record, occurrence, at):
                await self.store.await_confirmation(device_id, reminder_id, False)
                continue
            confirmed = _replace(occurrence, state="confirmed", confirmed_at=at)
            # Looked at again at once: the scheduler moves on to the next occurrence.
            if await self.store.save(_with_last(record, confirmed), time.time()):
                self._emit(record, confirmed)
                self._wake.set()
            await self.store.await_confirmation(device_id, reminder_id, False)

    # The scheduler

    async def _schedule_loop(self) -> None:
        while True:
            try:
                claimed = await self.store.claim_due(time.time(), self._lease_s, CLAIM_BATCH)
                # Together: a device slow to answer (up to the bus's answer timeout) holds up no other.
                await asyncio.gather(*(self._move_on(i) for i in claimed), return_exceptions=True)
                upcoming = await self.store.next_due()
            except StoreUnreachable:
                upcoming = None
            except Exception as exc:
                log.error("reminders: scheduler round failed: %s", type(exc).__name__)
                upcoming = None
            wait_s = self._poll_s if upcoming is None else min(self._poll_s, max(0.0, upcoming - time.time()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()

    async def _move_on(self, reminder_id: str) -> None:
        record = await self.store.get(reminder_id)
        if record is None:
            return
        try:
            record, due = await self._step(record, datetime.now(UTC))
        except StoreUnreachable:
            return  # the lease runs out and the reminder is taken up again
        await self.store.save(record, None if due is None else due.timestamp())

    async def _step(self, record: ReminderRecord, now: datetime) -> tuple[ReminderRecord, datetime | None]:
        """Move the reminder on as far as it goes at `now`; returns it and when to look at it next."""
        while True:
            last = record.occurrences[-1] if record.occurrences else None
            if last is not None and last.state == "due":
                if now >= last.due_at + timedelta(seconds=record.missed_window_s):
                    record = self._set(record, _replace(last, state="missed", missed_at=now))
                    continue
                record, said = await self._try_to_say(record, last, now)
                if not said:
                    return record, min(now + timedelta(seconds=self._poll_s), _missed_at(record, last))
                continue
            if last is not None and _awaiting(record, last, now):
                return record, _window_end(record, last)
            if last is not None and last.state == "spoken" and record.confirmation_window_s > 0:
                record = await self._unconfirmed(record, last)
                continue
            if record.next_due_at is None:
                return (_replace(record, status="finished") if record.status != "finished" else record), None
            if record.next_due_at > now:
                return record, record.next_due_at
            record = self._begin(record, record.next_due_at, now)

    def _begin(self, record: ReminderRecord, due: datetime, now: datetime) -> ReminderRecord:
        made = record.made + 1
        # After a long outage, occurrences already past their missed window are not made one by one.
        after = max(due, now - timedelta(seconds=record.missed_window_s))
        upcoming = next_due(record.at, record.recurrence, after=after, made=made)
        occurrences = [*record.occurrences, Occurrence(due_at=due)][-MAX_OCCURRENCES_KEPT:]
        return _replace(record, made=made, next_due_at=upcoming, occurrences=occurrences)

    async def _try_to_say(
        self, record: ReminderRecord, occurrence: Occurrence, now: datetime
    ) -> tuple[ReminderRecord, bool]:
        device_id = await self._speaker.device_for(record)
        if device_id is None:
            return record, False
        key = f"{record.reminder_id}:{occurrence.due_at.timestamp():.3f}"
        if not await self.store.claim_once(key, SAID_KEY_TTL_S):
            return record, False  # another instance is saying it (its lease ran out meanwhile)
        if not await self._speaker.say(record, device_id):
            await self.store.release_once(key)
            return record, False
        spoken = _replace(occurrence, state="spoken", device_id=device_id, spoken_at=datetime.now(UTC))
        if record.confirmation_window_s > 0:
            await self.store.await_confirmation(device_id, record.reminder_id, True)
        return self._set(record, spoken), True

    async def _unconfirmed(self, record: ReminderRecord, occurrence: Occurrence) -> ReminderRecord:
        assert occurrence.device_id is not None
        await self.store.await_confirmation(occurrence.device_id, record.reminder_id, False)
        alert_id = await self._alerts.raise_alert(
            device_id=occurrence.device_id,
            rule_id=ALERT_RULE,
            severity=ALERT_SEVERITY,
            source="reminder",
            words=record.text or record.prompt or "",
        )
        return self._set(record, _replace(occurrence, state="unconfirmed", alert_id=alert_id))

    def _set(self, record: ReminderRecord, occurrence: Occurrence) -> ReminderRecord:
        self._emit(record, occurrence)
        return _with_last(record, occurrence)

    def _emit(self, record: ReminderRecord, occurrence: Occurrence) -> None:
        update = ReminderUpdate(
            reminder_id=record.reminder_id,
            due_at=occurrence.due_at.isoformat(),
            state=occurrence.state,
            alert_id=occurrence.alert_id,
        )
        self._events.emit(update, device_id=occurrence.device_id or record.device_id)


def _with_last(record: ReminderRecord, occurrence: Occurrence) -> ReminderRecord:
    return _replace(record, occurrences=[*record.occurrences[:-1], occurrence])


def _awaiting(record: ReminderRecord, occurrence: Occurrence, at: datetime) -> bool:
    """Said, and its confirmation window still open at `at`."""
    if occurrence.state != "spoken" or occurrence.spoken_at is None or record.confirmation_window_s == 0:
        return False
    return at < occurrence.spoken_at + timedelta(seconds=record.confirmation_window_s)


def _window_end(record: ReminderRecord, occurrence: Occurrence) -> datetime:
    assert occurrence.spoken_at is not None
    return occurrence.spoken_at + timedelta(seconds=record.confirmation_window_s)


def _missed_at(record: ReminderRecord, occurrence: Occurrence) -> datetime:
    return occurrence.due_at + timedelta(seconds=record.missed_window_s)
