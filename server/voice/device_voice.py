"""Turns a device's voice-graph events into WebSocket messages, and keeps the store up to date.

Messages beyond the spec's `audio_response` are documented in the README
("Device WebSocket protocol"): `transcript`, `stop_playback`, and the
`led_control` states the graph drives.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import msgspec

from pipeline.audio import wav_bytes
from pipeline.graph.events import LedState
from pipeline.graph.pauses import PauseProfile
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm import ChatMessage
from server.live.held import HeldSession
from server.services.clock import utcnow
from server.state.records import SessionRecord
from server.ws.connection import DeviceConnection
from server.ws.messages import (
    AudioChunk,
    AudioChunkPayload,
    AudioFinal,
    AudioFinalPayload,
    StopPlayback,
    Transcript,
    TranscriptPayload,
    VoiceLed,
    VoiceLedPayload,
)

if TYPE_CHECKING:
    from server.services import Services

log = logging.getLogger(__name__)

LearnedPauses = Callable[[], PauseProfile | None]
"""What the graph learned of the speaker's pauses, if its persona keeps it (``learning``); else None."""


class DeviceVoice:
    """The `SessionListener` of one device's graph."""

    def __init__(
        self,
        *,
        services: Services,
        connection: DeviceConnection,
        device_id: str,
        base_url: str,
        on_replying: Callable[[], Awaitable[None]] | None = None,
        learned_pauses: LearnedPauses | None = None,
    ) -> None:
        """`base_url`: the server's address as the device reaches it, for absolute audio URLs;
        `on_replying` is awaited whenever `replying` changes; `learned_pauses` is kept with the
        session after each spoken turn."""
        self._services = services
        self._learned_pauses = learned_pauses
        self._base_url = base_url.rstrip("/")
        self._connection = connection
        self._device_id = device_id
        self._seq = 0
        self._on_replying = on_replying
        self.persona_id = ""
        self.held = HeldSession()
        """The stored session whose conversation the graph holds (set by the live session)."""
        self.replying = False
        """A reply is being produced (after the user's turn ended) or played: the device is busy."""

    async def set_replying(self, replying: bool) -> None:
        if replying == self.replying:
            return
        self.replying = replying
        if self._on_replying is not None:
            await self._on_replying()

    async def on_led(self, state: LedState) -> None:
        self._connection.send(VoiceLed(payload=VoiceLedPayload(state=state)))
        # The graph's LED says where the turn is: "thinking" once the user's turn is over, "speaking"
        # while the reply plays, "listening" when it has been played, cut, or there was nothing to say.
        await self.set_replying(state in ("thinking", "speaking"))

    async def on_transcript(self, text: str, timeline: TurnTimeline) -> None:
        continues = msgspec.UNSET if timeline.continues is None else timeline.continues
        payload = TranscriptPayload(text=text, turn_id=timeline.turn_id, continues_turn_id=continues)
        self._connection.send(Transcript(payload=payload))

    async def on_reply_audio(
        self, audio: bytes, sample_rate: int, text: str, timeline: TurnTimeline | None
    ) -> None:
        self._seq += 1
        payload = AudioChunkPayload(
            seq=self._seq,
            text=text,
            audio_b64=base64.b64encode(audio).decode(),
            sample_rate=sample_rate,
            turn_id=timeline.turn_id if timeline else None,
        )
        self._connection.send(AudioChunk(payload=payload))
        # The chunk is queued on the socket now; the writer sends it on the next loop turn.

    async def on_reply_done(
        self, text: str, audio: bytes, sample_rate: int, timeline: TurnTimeline | None
    ) -> None:
        services = self._services
        blob_id = f"aud_{secrets.token_hex(12)}"
        await services.reply_audio.keep(self._device_id, blob_id, wav_bytes(audio, sample_rate))
        payload = AudioFinalPayload(
            text=text,
            audio_url=self._base_url + services.audio_urls.path(blob_id),
            sample_rate=sample_rate,
            persona_id=self.persona_id,
            turn_id=timeline.turn_id if timeline else None,
            latency_ms=timeline.breakdown_ms() if timeline else {},
            turn_end_rule=timeline.end_rule if timeline else None,
        )
        self._connection.send(AudioFinal(payload=payload))

    async def _session_of_turn(self) -> SessionRecord:
        """The session a finished turn belongs to: the one the graph held while it was answered.

        A turn cut by a change of session finishes before the change is made (the live session
        waits for the cut), so it is kept with its own session, even one that has just ended or
        moved to another device. With none held, the device's current session (opened if need be)
        is held from now on.
        """
        services = self._services
        if self.held.id:
            session = await services.store.get_session(self.held.id)
            if session is not None:
                return session
        session = await services.sessions.current_for_device(self._device_id)
        self.held.set(session.session_id)
        return session

    async def _keep_pauses(self, session_id: str) -> None:
        """After a spoken turn, what was learned of the speaker's pauses goes with their session.

        The graph's model is the held session's (a turn cut by a change of session finishes
        before the change), so it is kept with the same session as the turn.
        """
        profile = self._learned_pauses() if self._learned_pauses is not None else None
        if profile is not None:
            await self._services.store.set_pause_profile(session_id, profile)

    async def on_stop_playback(self) -> None:
        self._connection.send(StopPlayback())
        await self.set_replying(False)

    async def on_turn_done(
        self, user_text: str, spoken_text: str, interrupted: bool, timeline: TurnTimeline | None
    ) -> None:
        services = self._services
        if timeline is not None:
            # Spoken turns count from the end of speech (voice-to-voice), typed ones from their arrival.
            breakdown = timeline.breakdown_ms()
            if timeline.speech_end is not None:
                services.latency.record_turn(breakdown)
            if "first_byte_sent" in breakdown:
                await services.store.record_interaction(
                    self._device_id, breakdown["first_byte_sent"], utcnow()
                )
        if not user_text:
            return  # a transition message or another line not answering the user
        session = await self._session_of_turn()
        messages = [ChatMessage(role="user", content=user_text)]
        if spoken_text:
            messages.append(ChatMessage(role="assistant", content=spoken_text))
        await services.store.append_context(session.session_id, messages, services.settings.context_keep_last)
        if timeline is not None and timeline.speech_end is not None:
            await self._keep_pauses(session.session_id)
        if session.status == "active" and session.expires_at > utcnow():  # an ended one is not revived
            await services.sessions.extend(session)
        await services.store.update_runtime(self._device_id, last_activity=utcnow())
        if interrupted:
            log.info("turn on %s cut by barge-in; kept %d words", self._device_id, len(spoken_text.split()))
