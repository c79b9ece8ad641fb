"""One dialog turn: the persona's LLM engine answers the user in its session's context."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

import msgspec

from pipeline.llm import ChatMessage, LLMError, Responder
from server.errors import Forbidden, LLMApiError
from server.ratelimit import RateLimiter
from server.services.clock import elapsed_ms, utcnow
from server.services.sessions import SessionService
from server.settings import Settings
from server.state.base import Store
from server.state.records import SessionRecord

log = logging.getLogger(__name__)

OnPiece = Callable[[str], Awaitable[None]]


class TurnResult(msgspec.Struct, frozen=True):
    session: SessionRecord
    persona_id: str
    text: str
    latency_ms: float
    """Request received → reply complete, measured on the server."""
    first_piece_ms: float
    """Request received → first piece of the reply from the engine."""
    tokens_used: int
    engine: str


class DialogService:
    def __init__(
        self,
        *,
        store: Store,
        sessions: SessionService,
        responders: Mapping[str, Responder],
        limiter: RateLimiter,
        settings: Settings,
    ) -> None:
        self._store = store
        self._sessions = sessions
        self._responders = responders
        self._limiter = limiter
        self._keep_last = settings.context_keep_last

    async def run_turn(
        self,
        *,
        device_id: str,
        text: str,
        session_id: str | None = None,
        started: float | None = None,
        on_piece: OnPiece | None = None,
    ) -> TurnResult:
        """Answer `text` from `device_id`; `started` is the `perf_counter()` when the request arrived.

        Raises `LLMApiError` (502) when the engine fails; the session's context
        is then left as it was, so the user can simply ask again.
        """
        started = time.perf_counter() if started is None else started
        await self._limiter.check_dialog_turn(device_id)
        session = await self._session(device_id, session_id)
        responder = self._responders[session.persona_id]
        history = await self._store.get_context(session.session_id)
        user = ChatMessage(role="user", content=text)
        pieces: list[str] = []
        first_piece_ms = 0.0
        stream = responder.stream([*history, user])
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
        await self._store.append_context(
            session.session_id, [user, ChatMessage(role="assistant", content=reply)], self._keep_last
        )
        session = await self._sessions.extend(session)
        latency_ms = elapsed_ms(started)
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
        )

    async def _session(self, device_id: str, session_id: str | None) -> SessionRecord:
        if session_id is None:
            return await self._sessions.current_for_device(device_id)
        session = await self._sessions.require_live(session_id)
        if session.device_id != device_id:
            raise Forbidden(
                f"Session '{session_id}' belongs to another device",
                details={"session_id": session_id, "device_id": device_id},
            )
        return session
