"""Turns a device's voice-graph events into device messages (and, over WebRTC, reply audio on the
peer's track), and keeps the store up to date.

The store is written through `services.catch_up`: while it is unreachable the device is still
answered, and what a turn writes (context, metrics, activity, the reply's audio) is made once
the store is back, with the session the turn belonged to.

Messages beyond the spec's `audio_response` are documented in the README
("Device WebSocket protocol"): `transcript`, `stop_playback`, and the
`led_control` states the graph drives.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import msgspec

from pipeline.audio import wav_bytes
from pipeline.graph.events import LedState
from pipeline.graph.pauses import PauseProfile
from pipeline.graph.timeline import TurnTimeline
from pipeline.llm import ChatMessage
from server.live.held import HeldSession
from server.services.clock import utcnow
from server.state.records import SessionRecord
from server.voice.replying import Replying
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


class ReplyAudio(Protocol):
    """Where a device's reply audio plays when not sent as `audio_response` chunks: a WebRTC peer's
    outgoing track (server/webrtc/tracks.py)."""

    def play(self, audio: bytes, sample_rate: int) -> None:
        """Queue PCM16 mono for playback after what is queued."""
        ...

    def drop(self) -> None:
        """Drop whatever is queued (a barge-in)."""
        ...


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
        reply_audio: ReplyAudio | None = None,
    ) -> None:
        """`base_url`: the server's address as the device reaches it, for absolute audio URLs;
        `on_replying` is awaited whenever `replying` changes; `learned_pauses` is kept with the
        session after each spoken turn; `reply_audio`, if given, plays the reply's audio instead
        of `audio_response` chunks (the final `audio_response`, with its URL, is sent either way)."""
        self._services = services
        self._reply_audio = reply_audio
        self._learned_pauses = learned_pauses
        self._base_url = base_url.rstrip("/")
        self._connection = connection
        self._device_id = device_id
        self._seq = 0
        self._on_replying = on_replying
        self.persona_id = ""
        self.held = HeldSession()
        """The stored session whose conversation the graph holds (set by the live session)."""
        self._replying = Replying()

    @property
    def replying(self) -> bool:
        """A reply is being produced (after the user's turn ended) or played: the device is busy."""
        return self._replying.active

    async def set_replying(self, replying: bool) -> None:
        if not self._replying.set(replying):
            return
        if self._on_replying is not None:
            await self._on_replying()

    async def wait_quiet(self, timeout_s: float) -> None:
        """Returns the moment no reply is under way (at once if none is), or after `timeout_s`."""
        await self._replying.wait_quiet(timeout_s)

    async def on_led(self, state: LedState) -> None:
        self._connection.send(VoiceLed(payload=VoiceLedPayload(state=state)))
        # The graph's LED says where the turn is: "thinking" once the user's turn is over, "speaking"
        # while the reply plays, "listening" when it has been played, cut, or there was nothing to say.
        await self.set_replying(state in ("thinking", "speaking"))

    async def on_transcript(self, text: str, timeline: TurnTimeline) -> None:
        continues = msgspec.UNSET if timeline.continues is None else timeline.continues
        self._services.alerts.heard(self._device_id, self.held.id, text, "voice")  # checked off the loop
        self._services.reminders.heard(self._device_id, text)  # a confirmation, recorded off the loop
        payload = TranscriptPayload(text=text, turn_id=timeline.turn_id, continues_turn_id=continues)
        self._connection.send(Transcript(payload=payload))

    async def on_reply_audio(
        self, audio: bytes, sample_rate: int, text: str, timeline: TurnTimeline | None
    ) -> None:
        if self._reply_audio is not None:
            self._reply_audio.play(audio, sample_rate)
            return
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
        wav = wav_bytes(audio, sample_rate)

        async def keep_audio() -> None:
            await services.reply_audio.keep(self._device_id, blob_id, wav)

        # The URL is sent either way: kept for later, the audio is there once the store is back.
        await services.catch_up.run(f"reply audio of {self._device_id}", keep_audio)
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

    async def _session_of_turn(self, held_id: str) -> SessionRecord:
        """The session a finished turn belongs to: `held_id`, the one the graph held when it ended.

        A turn cut by a change of session finishes before the change is made (the live session
        waits for the cut), so it is kept with its own session, even one that has just ended or
        moved to another device. With none held, the device's current session (opened if need be)
        is held from now on (unless the graph has come to hold another meanwhile).
        """
        services = self._services
        if held_id:
            session = await services.store.get_session(held_id)
            if session is not None:
                return session
        session = await services.sessions.current_for_device(self._device_id)
        if self.held.id == held_id:
            self.held.set(session.session_id)
        return session

    async def _count_interaction(self, latency_ms: float) -> None:
        at = utcnow()

        async def record() -> None:
            await self._services.store.record_interaction(self._device_id, latency_ms, at)

        await self._services.catch_up.run(f"metrics of {self._device_id}", record)

    async def on_stop_playback(self) -> None:
        if self._reply_audio is not None:
            self._reply_audio.drop()
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
                await self._count_interaction(breakdown["first_byte_sent"])
        if not user_text:
            return  # a transition message or another line not answering the user
        services.events.turn_finished(
            self._device_id,
            session_id=self.held.id,
            persona_id=self.persona_id,
            latency_ms=timeline.breakdown_ms().get("first_byte_sent") if timeline is not None else None,
            source="voice" if timeline is not None and timeline.speech_end is not None else "text_input",
            user_text=user_text,
            reply_text=spoken_text,
            interrupted=interrupted,
        )
        messages = [ChatMessage(role="user", content=user_text)]
        if spoken_text:
            messages.append(ChatMessage(role="assistant", content=spoken_text))
        # After a spoken turn, what was learned of the speaker's pauses goes with their session: the
        # graph's model is the held session's (a turn cut by a change of session finishes before it).
        spoken = timeline is not None and timeline.speech_end is not None
        pauses = self._learned_pauses() if spoken and self._learned_pauses is not None else None
        kept = _KeptTurn(self, held_id=self.held.id, messages=messages, pauses=pauses)
        await services.catch_up.run(
            f"turn of {self._device_id}",
            kept.find_session,
            kept.append,
            kept.keep_pauses,
            kept.extend,
            kept.touch,
        )
        if interrupted:
            log.info("turn on %s cut by barge-in; kept %d words", self._device_id, len(spoken_text.split()))


class _KeptTurn:
    """What one finished turn writes, step by step (each retried alone if the store is away), with
    everything taken when the turn ended: the session it belonged to, its words, its time."""

    def __init__(
        self, voice: DeviceVoice, *, held_id: str, messages: list[ChatMessage], pauses: PauseProfile | None
    ) -> None:
        self._voice = voice
        self._services = voice._services
        self._held_id = held_id
        self._messages = messages
        self._pauses = pauses
        self._at = utcnow()
        self._session: SessionRecord | None = None

    @property
    def session(self) -> SessionRecord:
        assert self._session is not None, "find_session first"
        return self._session

    async def find_session(self) -> None:
        self._session = await self._voice._session_of_turn(self._held_id)

    async def append(self) -> None:
        keep_last = self._services.settings.context_keep_last
        await self._services.store.append_context(self.session.session_id, self._messages, keep_last)

    async def keep_pauses(self) -> None:
        if self._pauses is not None:
            await self._services.store.set_pause_profile(self.session.session_id, self._pauses)

    async def extend(self) -> None:
        session = self.session
        if session.status == "active" and session.expires_at > utcnow():  # an ended one is not revived
            await self._services.sessions.extend(session)

    async def touch(self) -> None:
        await self._services.store.update_runtime(self._voice._device_id, last_activity=self._at)
