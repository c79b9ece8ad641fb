"""`build_reminders(...)`: the reminders' store, speaker and scheduler from settings."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.llm import Responder
from server.alerts.service import Alerts
from server.events.hub import EventHub
from server.live.changes import LiveChanges
from server.reminders.service import Reminders
from server.reminders.speaking import Speaker
from server.reminders.store import MemoryReminderStore, ReminderStore
from server.settings import Settings
from server.state.base import Store


def build_reminders(
    settings: Settings,
    *,
    store: Store,
    changes: LiveChanges,
    responders: Mapping[str, Responder],
    alerts: Alerts,
    events: EventHub,
) -> Reminders:
    reminder_store: ReminderStore
    if settings.redis_url:
        from server.reminders.store import RedisReminderStore

        reminder_store = RedisReminderStore.from_url(settings.redis_url, key_prefix=settings.redis_key_prefix)
    else:
        reminder_store = MemoryReminderStore()
    speaker = Speaker(
        store=store,
        changes=changes,
        responders=responders,
        default_persona=settings.default_persona_id,
        voice_enabled=settings.voice_enabled,
    )
    return Reminders(
        store=reminder_store,
        speaker=speaker,
        alerts=alerts,
        events=events,
        poll_s=settings.reminder_poll_s,
        lease_s=settings.reminder_lease_s,
        max_reminders=settings.reminder_max,
    )
