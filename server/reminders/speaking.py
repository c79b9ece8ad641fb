"""Saying an occurrence on a device: the device it goes to, its words, and the broadcast's path.

The line reaches the device's live session as an `Announcement` (the path a broadcast's spoken line
takes), said in the reminder's persona's voice (or the device's current one) once the device has
finished what it is saying. A `prompt` is worded by the persona's engine at the time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from pipeline.llm import ChatMessage, LLMError, Responder
from server.live.changes import LiveChanges, new_event_id
from server.live.events import Announcement
from server.reminders.records import ReminderRecord
from server.state.base import Store

log = logging.getLogger(__name__)

PROMPT_TIMEOUT_S = 15.0
FALLBACK_LINE = "It is time for your reminder."
"""Said when a `prompt` cannot be worded (the engine failed or took longer than `PROMPT_TIMEOUT_S`)."""
MAX_LINE = 500


class Speaker:
    def __init__(
        self,
        *,
        store: Store,
        changes: LiveChanges,
        responders: Mapping[str, Responder],
        default_persona: str,
        voice_enabled: bool,
    ) -> None:
        self._voice_enabled = voice_enabled
        self._store = store
        self._changes = changes
        self._responders = responders
        self._default_persona = default_persona

    async def device_for(self, record: ReminderRecord) -> str | None:
        """The reminder's device, or the one holding its resident's active session (None: none does)."""
        if record.device_id is not None:
            return record.device_id
        devices = await self._store.list_devices()
        runtimes = await self._store.get_runtimes([d.device_id for d in devices])
        held = [(d.device_id, r.active_session_id) for d, r in zip(devices, runtimes, strict=True)]
        held = [(d, s) for d, s in held if s]
        sessions = await self._store.get_sessions([s for _, s in held if s])
        for (device_id, _), session in zip(held, sessions, strict=True):
            if session is not None and session.status == "active" and session.user_id == record.user_id:
                return device_id
        return None

    async def say(self, record: ReminderRecord, device_id: str) -> bool:
        """True once the device's live voice loop took the line (False: no socket, or it did not).

        Instances without the voice models say nothing (as a broadcast's line): a device's live session
        there has no voice loop to speak with, and the instances of one deployment share their settings."""
        if not self._voice_enabled or await self._store.get_presence(device_id) is None:
            return False
        text = record.text if record.text is not None else await self._word(record, device_id)
        line = Announcement(
            event_id=new_event_id(), session_id="", text=text, interrupt=False, persona_id=record.persona_id
        )
        results = await self._changes.publish_many([(device_id, line)])
        return device_id in results and results[device_id] is None

    async def _word(self, record: ReminderRecord, device_id: str) -> str:
        persona_id = record.persona_id or (await self._store.get_runtime(device_id)).active_persona_id
        responder = self._responders.get(persona_id or self._default_persona)
        if responder is None or record.prompt is None:
            return FALLBACK_LINE
        ask = f"Say a short spoken reminder to the person you are talking with: {record.prompt}"
        try:
            async with asyncio.timeout(PROMPT_TIMEOUT_S):
                pieces = [piece async for piece in responder.stream([ChatMessage(role="user", content=ask)])]
        except (LLMError, TimeoutError) as exc:
            log.warning("reminder %s: its prompt was not worded (%s)", record.reminder_id, type(exc).__name__)
            return FALLBACK_LINE
        text = "".join(pieces).strip()[:MAX_LINE]
        return text or FALLBACK_LINE
