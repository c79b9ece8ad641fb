"""One dialog turn: the persona's LLM engine answers the user in its session's context.

A turn's latency is one measure everywhere: from the moment the server has the
user's whole turn (here: the request received) until the reply is ready to be
heard, its audio included when the server speaks. The API reports it as
`latency_ms` and the device's metrics average exactly the same number.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec

from pipeline.llm import ChatMessage, LLMError, Responder
from pipeline.llm.briefing import Briefing
from server.errors import LLMApiError, NotSupported
from server.live.changes import LiveChanges, new_event_id
from server.live.events import ContextChanged
from server.ratelimit import RateLimiter
from server.services.clock import elapsed_ms, utcnow
from server.services.sessions import SessionService
from server.settings import Settings
from server.state.base import Store
from server.state.records import SessionRecord

if TYPE_CHECKING:
    from server.alerts.service import Alerts
    from server.events.hub import EventHub

log = logging.getLogger(__name__)

OnPiece = Callable[[str], Awaitable[None]]
Briefings = Callable[[SessionRecord], Awaitable[Briefing | None]]
"""What a session's persona knows of its person (`ResidentService.briefing_for`)."""
AUDIO_AT_ONCE = "REST audio turns in progress per device"


class DialogVoice(Protocol):
    """What the dialog needs of the voice engines (server.voice.dialog_audio.DialogAudio)."""

    async def transcribe(self, audio_base64: str, *, owner: str) -> str:
        """The words of a base64 WAV, the recogniser's time charged to `owner` (the device)."""
        ...

    async def speak(self, persona_id: str, text: str, *, device_id: str) -> str:
        """The reply spoken in the persona's voice; the pre-signed path of its WAV (the device's)."""
        ...


class TurnResult(msgspec.Struct, frozen=True):
    session: SessionRecord
    persona_id: str
    text: str
    latency_ms: float
    """Request received → reply ready (its audio stored, when spoken), measured on the server;
    the device's metrics record this same figure."""
    first_piece_ms: float
    """Request received → first piece of the reply from the engine."""
    tokens_used: int
    engine: str
    audio_path: str | None = None
    """The pre-signed path (with query) of the reply's WAV, when it was spoken."""


class DialogService:
    def __init__(
        self,
        *,
        store: Store,
        sessions: SessionService,
        responders: Mapping[str, Responder],
        limiter: RateLimiter,
        settings: Settings,
        changes: LiveChanges,
        voice: DialogVoice | None = None,
        events: EventHub | None = None,
        alerts: Alerts | None = None,
        briefings: Briefings | None = None,
    ) -> None:
        self._store = store
        self._briefings = briefings
        self._events = events
        self._alerts = alerts
        self._changes = changes
        self._sessions = sessions
        self._responders = responders
        self._limiter = limiter
        self._keep_last = settings.context_keep_last
        self.voice = voice
        """Transcribes audio turns and speaks replies; None on a server without its voice models."""

    async def send(
        self,
        *,
        device_id: str,
        message: str | None,
        audio_base64: str | None,
        session_id: str | None,
        started: float,
    ) -> TurnResult:
        """The REST dialog (§8.5): a text `message` or `audio_base64` (a WAV) in, the reply out.

        With the voice models loaded the reply is spoken too, for a text turn as for an
        audio one (`audio_path`). Audio on a server without them is `NotSupported`.
        """
        voice = self.voice
        if audio_base64 is not None and voice is None:
            raise NotSupported("Audio is not processed: this server runs without its voice models")
        # Every turn is counted before any costly work (transcription, the LLM, synthesis), whatever
        # it finds: audio with no speech in it is a turn too.
        await self._limiter.check_dialog_turn(device_id)
        if audio_base64 is None or voice is None:
            return await self._answer(device_id, message or "", session_id, started)
        # One recording of a device at a time on the shared recogniser (its other requests: 429).
        async with self._limiter.one_at_a_time(f"dialog-audio:{device_id}", scope=AUDIO_AT_ONCE):
            text = await voice.transcribe(audio_base64, owner=device_id)
            return await self._answer(device_id, text, session_id, started)

    async def _answer(self, device_id: str, text: str, session_id: str | None, started: float) -> TurnResult:
        return await self.run_turn(
            device_id=device_id,
            text=text,
            session_id=session_id,
            started=started,
            speak=self.voice is not None,
            limit_checked=True,
            source="dialog",
        )

    async def run_turn(
        self,
        *,
        device_id: str,
        text: str,
        session_id: str | None = None,
        started: float | None = None,
        on_piece: OnPiece | None = None,
        speak: bool = False,
        limit_checked: bool = False,
        source: Literal["dialog", "text_input"] = "text_input",
    ) -> TurnResult:
        """Answer `text` from `device_id`; `started` is the `perf_counter()` when the request arrived.

        With `speak`, the reply is also spoken (`self.voice`) before the turn is recorded.
        Raises `LLMApiError` (502) when the engine fails, or the voice's error (503) when
        speaking fails; the session's context is then left as it was, so the user can
        simply ask again.
        """
        started = time.perf_counter() if started is None else started
        if not limit_checked:
            await self._limiter.check_dialog_turn(device_id)
        session = await self._session(device_id, session_id)
        if self._alerts is not None:
            self._alerts.heard(device_id, session.session_id, text, source)
        responder = self._responders[session.persona_id]
        history = await self._store.get_context(session.session_id)
        user = ChatMessage(role="user", content=text)
        pieces: list[str] = []
        first_piece_ms = 0.0
        briefing = await self._briefings(session) if self._briefings is not None else None
        stream = responder.stream([*history, user], briefing)
        try:
            async for piece in stream:
                if not pieces:
                    first_piece_ms = elapsed_ms(started)
                pieces.append(piece)
                if on_piece is not None:
                    await on_piece(piece)
        except LLMError as exc:
            log.warning(
                "LLM failure on session %s: engine=%s reason=%s", session.session_id, exc.engine, exc.reason
            )
            raise LLMApiError(
                "The persona's language model failed to answer",
                details={
                    "engine": exc.engine,
                    "reason": exc.reason,
                    "retryable": exc.retryable,
                    "upstream_status": exc.upstream_status,
                },
            ) from None
        reply = "".join(pieces)
        audio_path = None
        if speak and self.voice is not None:
            audio_path = await self.voice.speak(session.persona_id, reply, device_id=device_id)
        await self._store.append_context(
            session.session_id, [user, ChatMessage(role="assistant", content=reply)], self._keep_last
        )
        session = await self._sessions.extend(session)
        latency_ms = elapsed_ms(started)
        if self._events is not None:
            self._events.turn_finished(
                device_id,
                session_id=session.session_id,
                persona_id=session.persona_id,
                latency_ms=latency_ms,
                source=source,
                user_text=text,
                reply_text=reply,
            )
        # The device's live loop (if it holds this session) takes the turn into its conversation too.
        await self._changes.publish(
            device_id, ContextChanged(event_id=new_event_id(), session_id=session.session_id)
        )
        now = utcnow()
        await self._store.record_interaction(device_id, latency_ms, now)
        await self._store.update_runtime(device_id, last_activity=now)
        return TurnResult(
            session=session,
            persona_id=session.persona_id,
            text=reply,
            latency_ms=latency_ms,
            first_piece_ms=first_piece_ms,
            tokens_used=stream.usage.total,
            engine=responder.engine_name,
            audio_path=audio_path,
        )

    async def session_for(self, device_id: str, session_id: str | None) -> SessionRecord:
        """The session a turn of `device_id` goes to: the one named (live, and the device's), else
        the device's current one."""
        return await self._session(device_id, session_id)

    async def _session(self, device_id: str, session_id: str | None) -> SessionRecord:
        if session_id is None:
            return await self._sessions.current_for_device(device_id)
        # Another device's session is not found (404), as one that never was: no device learns another's ids.
        return await self._sessions.require_live(session_id, device_id=device_id)
