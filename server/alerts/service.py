"""`Alerts`: each final transcript and typed turn checked against the device's group's rules.

`heard(...)` is the hook the voice loop and the dialog call: it only queues the text (bounded)
and returns. A worker task matches it and, for the turn's most severe match, keeps an
`AlertRecord` in the `AlertStore`, publishes it on the operator event stream and queues its
webhook (one alert per turn, however many rules it matched). The same rule on the same device raises
no second alert while one raised less than `repeat_s` ago is still open. The words go to the
store, the webhook and the stream (for tokens with `transcripts:read`); never to a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from datetime import UTC, datetime

import msgspec

from server.alerts.matcher import Match, find
from server.alerts.records import MAX_WORDS, AlertRecord, Source
from server.alerts.rules import AlertRules, Severity
from server.alerts.store import AlertStore
from server.alerts.webhook import Webhooks
from server.events.hub import EventHub
from server.events.messages import AlertAcked, AlertRaised
from server.state.errors import StoreUnreachable

log = logging.getLogger(__name__)

_encoder = msgspec.json.Encoder()
STORE_RETRIES = 3
_RANK = {"info": 0, "warning": 1, "critical": 2}


class _Heard(msgspec.Struct, frozen=True):
    device_id: str
    session_id: str | None
    text: str
    source: Source
    at: datetime


class Alerts:
    def __init__(
        self,
        *,
        rules: AlertRules,
        store: AlertStore,
        events: EventHub,
        webhooks: Webhooks,
        queue_size: int = 1000,
        repeat_s: float = 120.0,
    ) -> None:
        self.rules = rules
        self.store = store
        self._events = events
        self.webhooks = webhooks
        self._queue: asyncio.Queue[_Heard] = asyncio.Queue(queue_size)
        self._repeat_s = repeat_s
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self.webhooks.start()
        self._task = asyncio.create_task(self._work(), name="alerts")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.webhooks.close()
        await self.store.close()

    def heard(self, device_id: str, session_id: str | None, text: str, source: Source) -> None:
        """A final transcript or typed turn of `device_id`: checked in the background."""
        if not text.strip():
            return
        try:
            self._queue.put_nowait(_Heard(device_id, session_id or None, text, source, datetime.now(UTC)))
        except asyncio.QueueFull:
            self.dropped += 1
            log.warning("alerts: check queue full, a turn of %s not checked", device_id)

    async def _work(self) -> None:
        while True:
            heard = await self._queue.get()
            try:
                await self._check(heard)
            except Exception as exc:  # the type only: the text of an exception could quote the words
                log.error("alerts: a turn of %s not checked: %s", heard.device_id, type(exc).__name__)

    async def _check(self, heard: _Heard) -> None:
        group_id = await self._group_of(heard.device_id)
        rules = self.rules.for_group(group_id)
        # One alert per turn: its most severe match (of equal ones, the first rule in the file).
        matches = sorted(find(rules.rules, heard.text, rules.variants), key=lambda m: -_RANK[m.severity])
        if matches and not self._is_repeat(heard, matches[0]):
            await self._raise(heard, matches[0], group_id)

    async def _group_of(self, device_id: str) -> str | None:
        for _ in range(STORE_RETRIES):
            try:
                return await self._events.group_of(device_id)
            except StoreUnreachable:
                await asyncio.sleep(0.2)
        return self._events.cached_group(device_id)  # the store is away: what was known of it

    def _is_repeat(self, heard: _Heard, match: Match) -> bool:
        now = heard.at.timestamp()
        key = (heard.device_id, match.rule_id)
        last = self._recent.get(key)
        if last is not None and now - last[1] < self._repeat_s:
            return True
        if len(self._recent) > 10_000:
            self._recent = {k: v for k, v in self._recent.items() if now - v[1] < self._repeat_s}
        self._recent[key] = (match.rule_id, now)
        return False

    async def raise_alert(
        self,
        *,
        device_id: str,
        rule_id: str,
        severity: Severity,
        source: Source,
        words: str,
        matched: str = "",
    ) -> str:
        """Raise an alert that no rule file holds (e.g. `reminder_unconfirmed`, server/reminders) by the
        same path as a matched turn: event stream, webhook, store. Returns its id."""
        heard = _Heard(device_id, None, words, source, datetime.now(UTC))
        match = Match(rule_id=rule_id, severity=severity, phrase=matched)
        return await self._raise(heard, match, await self._group_of(device_id))

    async def _raise(self, heard: _Heard, match: Match, group_id: str | None) -> str:
        alert = AlertRecord(
            alert_id=f"alt_{secrets.token_hex(12)}",
            device_id=heard.device_id,
            group_id=group_id,
            session_id=heard.session_id,
            rule_id=match.rule_id,
            severity=match.severity,  # type: ignore[arg-type]  # a rule's severity, checked at load
            source=heard.source,
            created_at=heard.at,
            words=heard.text[:MAX_WORDS],
            matched=match.phrase,
        )
        # Staff hear of it first; keeping it may wait for a store that is away.
        self.webhooks.send(_encoder.encode({"type": "alert", "alert": alert}), alert_id=alert.alert_id)
        raised = AlertRaised(
            alert_id=alert.alert_id,
            rule_id=alert.rule_id,
            severity=alert.severity,
            session_id=alert.session_id,
            source=alert.source,
            words=alert.words,
        )
        self._events.emit(raised, device_id=alert.device_id, group_id=group_id)
        log.warning(
            "alert %s: rule %s (%s) on device %s",
            alert.alert_id,
            alert.rule_id,
            alert.severity,
            alert.device_id,
        )
        for attempt in range(STORE_RETRIES):
            try:
                await self.store.add(alert)
                return alert.alert_id
            except StoreUnreachable:
                await asyncio.sleep(0.5 * 2**attempt)
        log.error("alert %s could not be kept: the store is unreachable", alert.alert_id)
        return alert.alert_id

    async def acknowledge(self, alert_id: str, by: str) -> AlertRecord | None:
        """Mark the alert acknowledged (once: a second ack keeps the first's time and name)."""
        alert = await self.store.get(alert_id)
        if alert is None or alert.status == "acknowledged":
            return alert
        acked = msgspec.structs.replace(alert, status="acknowledged", acked_at=datetime.now(UTC), acked_by=by)
        if not await self.store.replace(acked):
            return None
        self._events.emit(
            AlertAcked(alert_id=alert_id, acked_by=by), device_id=alert.device_id, group_id=alert.group_id
        )
        return acked
