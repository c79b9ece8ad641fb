"""A device connection's side of the live voice loop: audio in, the graph, and the changes the live
session applies to it (persona, held session)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pipeline.audio import AudioFormatError, Int16Array, check_rate, pcm16_from_base64, pcm16_from_bytes
from pipeline.graph.listen import TurnParams
from pipeline.graph.pauses import PauseProfile
from pipeline.graph.persona import PersonaBinding
from pipeline.graph.session import VoiceSession
from pipeline.voices import Voice
from server.activities.answers import activity_binding, answering_of
from server.errors import ValidationFailed
from server.live.events import PersonaChanged
from server.state.records import SessionRecord
from server.voice.device_voice import DeviceVoice, ReplyAudio
from server.ws import protocol
from server.ws.connection import DeviceConnection

if TYPE_CHECKING:
    from server.services import Services
    from server.voice.runtime import VoiceRuntime

log = logging.getLogger(__name__)

DEFAULT_SAMPLE_RATE = 16_000
"""Audio that declares no rate is 16 kHz mono PCM16 (the spec's `audio_stream` example has none)."""
TALK_BUTTONS = frozenset({"talk", "push_to_talk", "ptt"})
STOP_BUTTONS = frozenset({"stop", "cancel"})


class VoiceLink:
    def __init__(
        self,
        *,
        services: Services,
        runtime: VoiceRuntime,
        connection: DeviceConnection,
        device_id: str,
        base_url: str,
        sample_rate: int | None,
        on_replying: Callable[[], Awaitable[None]] | None = None,
        reply_audio: ReplyAudio | None = None,
    ) -> None:
        self._services = services
        self._runtime = runtime
        self._device_id = device_id
        self._listener = DeviceVoice(
            services=services,
            connection=connection,
            device_id=device_id,
            base_url=base_url,
            on_replying=on_replying,
            learned_pauses=self._learned_pauses,
            reply_audio=reply_audio,
        )
        self._session: VoiceSession | None = None
        self._held = self._listener.held
        self._lock = asyncio.Lock()
        """Changes to what the graph holds happen one at a time."""
        self._sample_rate = sample_rate if sample_rate is not None else DEFAULT_SAMPLE_RATE
        """The rate of audio that declares none: `?sample_rate=`, else the last `audio_stream` that
        declared one, else 16 kHz."""

    @property
    def replying(self) -> bool:
        """A reply is being produced or played on this device's voice loop."""
        return self._listener.replying

    async def wait_quiet(self, timeout_s: float) -> None:
        """Returns the moment no reply is under way (at once if none is), or after `timeout_s`."""
        await self._listener.wait_quiet(timeout_s)

    async def start(self) -> None:
        services = self._services
        session = await services.sessions.current_for_device(self._device_id)
        binding = self._binding_for(session)
        self._listener.persona_id = binding.persona_id
        self._held.set(session.session_id)
        settings = services.settings
        self._session = VoiceSession(
            engines=self._runtime.engines,
            binding=binding,
            listener=self._listener,
            history=await services.store.get_context(session.session_id),
            pause_profile=await self._kept_pauses(session.session_id, binding),
            keep_last=settings.context_keep_last,
            lead_s=settings.output_lead_ms / 1000,
            turn_params=TurnParams(
                confident_silence_ms=settings.turn_confident_silence_ms,
                fallback_silence_ms=settings.turn_fallback_silence_ms,
                use_transcript=settings.turn_use_transcript,
            ),
        )
        self._session.conversation.briefing = await services.residents.briefing_for(session)
        await self._session.start()

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.stop()

    def voice_of(self, persona_id: str | None) -> Voice | None:
        """The voice of `persona_id` if one is loaded (None: the device's current voice)."""
        binding = self._runtime.bindings.get(persona_id) if persona_id else None
        return binding.voice if binding is not None else None

    @property
    def session(self) -> VoiceSession:
        assert self._session is not None, "start() first"
        return self._session

    async def audio_message(self, payload: protocol.AudioStreamPayload) -> None:
        try:
            # Without `sample_rate` (as in the spec's example), the socket's rate: 16 kHz unless declared.
            rate = check_rate(payload.sample_rate if payload.sample_rate is not None else self._sample_rate)
            pcm = pcm16_from_base64(
                payload.audio_b64, max_bytes=self._services.settings.max_audio_chunk_bytes
            )
        except AudioFormatError as exc:
            raise _invalid(exc) from None
        self._sample_rate = rate
        await self.session.push_audio(pcm, rate)

    async def audio_binary(self, data: bytes) -> None:
        try:
            rate = check_rate(self._sample_rate)
            pcm = pcm16_from_bytes(data, max_bytes=self._services.settings.max_audio_chunk_bytes)
        except AudioFormatError as exc:
            raise _invalid(exc) from None
        await self.session.push_audio(pcm, rate)

    async def mic_audio(self, pcm: Int16Array, sample_rate: int) -> None:
        """Microphone audio decoded at the edge (a WebRTC track), resampled by the listening stage."""
        await self.session.push_audio(pcm, sample_rate)

    async def text(self, text: str, session_id: str | None = None) -> None:
        """A typed turn, answered and spoken like a spoken one, in the session it names (which
        becomes the device's active one) or else the device's current session."""
        services = self._services
        await services.limiter.check_dialog_turn(self._device_id)
        session = await services.dialog.session_for(self._device_id, session_id)
        if session_id is not None:
            await services.store.update_runtime(
                self._device_id, active_session_id=session.session_id, active_persona_id=session.persona_id
            )
        if session.session_id != self._held.id:
            await self.follow(session)
        services.alerts.heard(self._device_id, session.session_id, text, "text_input")
        services.reminders.heard(self._device_id, text)
        await self._listener.set_replying(True)
        await self.session.push_text(text)

    async def button(self, payload: protocol.ButtonPressPayload) -> None:
        answering = answering_of(self.session.binding)  # in a game, an option's button answers
        if answering is not None and payload.action == "press":
            line = await answering.pressed(payload.button)
            if line is not None:
                await self.session.say(line)
                return
        if payload.button in TALK_BUTTONS:
            await self.session.push_to_talk(payload.action in ("press", "long_press"))
        elif payload.button in STOP_BUTTONS and payload.action == "press":
            await self.session.interrupt()
            await self._listening_again()

    # The live session's changes, applied one at a time (the live session serialises them).

    @property
    def held_session_id(self) -> str:
        """The stored session whose conversation the graph holds; "" when none."""
        return self._held.id

    async def held_changed(self) -> None:
        """Returns when the graph holds another session (or none)."""
        await self._held.changed()

    async def follow(self, session: SessionRecord, *, line: str | None = None) -> None:
        """Hold `session`: its persona and its conversation as the store has it, from the next turn.

        Whatever the device was saying is cut first, and its turn kept with the session it
        belonged to; then `line` (if any) is spoken in the session's persona's voice.
        """
        async with self._lock:
            await self.session.cut()
            binding = self._binding_for(session)
            self._listener.persona_id = binding.persona_id
            history = await self._services.store.get_context(session.session_id)
            briefing = await self._services.residents.briefing_for(session)
            self.session.hold(binding, history, await self._kept_pauses(session.session_id, binding))
            self.session.conversation.briefing = briefing  # what is known of this session's person only
            self._held.set(session.session_id)
            await self._listening_again()
            if line:
                await self.session.say(line)

    async def forget(self, session_id: str, *, line: str | None = None, stop_playback: bool = False) -> None:
        """Let go of `session_id` (ended, expired, handed off) if the graph holds it: the device stops
        talking, says `line` if any, and keeps nothing of the conversation. Its persona stays."""
        async with self._lock:
            if self._held.id != session_id:
                return
            await self.session.cut()
            if stop_playback:  # whatever the device still has buffered is dropped too
                await self._listener.on_stop_playback()
            self.session.hold(self.session.binding, ())
            self._held.set("")
            await self._listening_again()
            if line:
                await self.session.say(line)

    async def reload(self, session_id: str) -> None:
        """The store's conversation of `session_id` changed elsewhere: hold it as the store has it (and
        what is known of its person, as it is now)."""
        async with self._lock:
            if self._held.id == session_id:
                store = self._services.store
                session = await store.get_session(session_id)
                briefing = await self._services.residents.briefing_for(session) if session else None
                self.session.conversation.replace(await store.get_context(session_id), briefing)

    async def switch_persona(self, event: PersonaChanged) -> None:
        """Swap the persona in place (`POST /devices/{id}/persona/switch`)."""
        binding = self._runtime.bindings.get(event.persona_id)
        if binding is None:
            raise LookupError(f"persona {event.persona_id} has no voice loaded")
        async with self._lock:
            if not event.preserve_context:
                # The conversation is dropped: nothing of the cut reply may come back into it.
                await self.session.cut()
            self._listener.persona_id = binding.persona_id
            elapsed_s = await self.session.switch(
                binding,
                transition_message=event.transition_message,
                preserve_context=event.preserve_context,
            )
            self._services.latency.record_swap(elapsed_s * 1000)
            if not event.transition_message:
                await self._listening_again()

    async def _kept_pauses(self, session_id: str, binding: PersonaBinding) -> PauseProfile | None:
        """What a `learning` persona kept of the session's speaker's pauses; None for other personas,
        which learn (if at all) only while the graph holds the session."""
        if binding.adaptation_mode != "learning":
            return None
        return await self._services.store.get_pause_profile(session_id)

    def _learned_pauses(self) -> PauseProfile | None:
        """What the graph learned of the held session's speaker, to keep with it (`learning` only)."""
        session = self._session
        if session is None or session.binding.adaptation_mode != "learning":
            return None
        return session.pause_profile

    def _binding_for(self, session: SessionRecord) -> PersonaBinding:
        # A session may name a persona no longer in the library (its file was removed): use the default.
        bindings = self._runtime.bindings
        binding = bindings.get(session.persona_id) or bindings[self._services.settings.default_persona_id]
        # A game's session: the same voice, its turns answering the game (server/activities/answers.py).
        return activity_binding(binding, session, store=self._services.store, device_id=self._device_id)

    async def _listening_again(self) -> None:
        """The reply was cut before a word of it played (the output has nothing to stop): the device
        listens again."""
        if self._listener.replying:
            await self._listener.on_led("listening")


def _invalid(exc: AudioFormatError) -> ValidationFailed:
    return ValidationFailed(f"Invalid audio: {exc}", details={"reason": exc.reason})
