"""The life of one authenticated device connection on this instance, whatever carries it.

A WebSocket (server/ws/handler.py) and a WebRTC peer (server/webrtc/) run the same
`DeviceSession` over a `Transport`: the same take-over of the device (the newest
connection wins, on every instance), the same priority outbox and writer, the same
messages, voice loop, live session, presence and clean-up.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable

import msgspec

from server.activities.answers import game_session, is_critical
from server.auth import Principal
from server.errors import (
    ApiError,
    DeviceNotFound,
    InvalidJson,
    NotSupported,
    StoreUnavailable,
    Unauthorized,
    ValidationFailed,
)
from server.live.session import LiveSession
from server.media.clock import ClockSamples, server_ms
from server.schemas.common import ErrorResponse
from server.services import Services
from server.services.clock import utcnow
from server.state.errors import StoreUnreachable
from server.state.records import (
    BusMessage,
    CommandDelivery,
    Disconnect,
    Presence,
    PresenceStatus,
    SessionChange,
)
from server.voice.device_voice import ReplyAudio
from server.ws import messages, protocol
from server.ws.connection import DeviceConnection
from server.ws.messages import (
    Connected,
    ConnectedPayload,
    HeartbeatAck,
    HeartbeatAckPayload,
    TextReply,
    TextReplyPayload,
)
from server.ws.transport import MicAudio, Transport
from server.ws.voice_link import VoiceLink

log = logging.getLogger(__name__)

CLOSE_REPLACED = 4409
REPLACED_REASON = "replaced by a newer connection"
CLOSE_NO_HEARTBEAT = 4408
"""Close codes are 4000 + the HTTP status the same condition has on REST (README, "Close codes")."""
PRESENCE_RETRY_S = 1.0
"""While the store is unreachable, how soon a live connection tries to write its presence again."""


async def run_device_session(session: DeviceSession) -> None:
    """Run an authenticated connection to its end; a store away while connecting closes it with
    `STORE_UNAVAILABLE` (4503), anything unexpected with `INTERNAL_ERROR` (4500)."""
    try:
        await session.run()
    except StoreUnreachable:  # while connecting; everything set up is already undone (run's finally)
        log.warning("device connection %s refused: the store is unreachable", session.device_id)
        await session.transport.refuse(StoreUnavailable())
    except Exception as exc:
        await server_fault(session.transport, session.device_id, exc)


async def server_fault(transport: Transport, device_id: str, exc: Exception) -> None:
    """An unexpected failure: an `INTERNAL_ERROR` message, then close 4500.

    Logged by type only (with the traceback at DEBUG): an exception's text could carry what was said.
    """
    log.error(
        "device connection %s failed: %s",
        device_id,
        type(exc).__name__,
        exc_info=log.isEnabledFor(logging.DEBUG),
    )
    await transport.refuse(ApiError("Internal server error; reconnect", details={}))


class DeviceSession:
    """The life of one authenticated device connection on this instance."""

    def __init__(
        self, transport: Transport, services: Services, device_id: str, principal: Principal
    ) -> None:
        self.transport = transport
        self.services = services
        self.device_id = device_id
        self.principal = principal
        self.connection = DeviceConnection(transport.channel, device_id)
        self.connected_at = utcnow()
        self.device_busy = False
        """The device's own view, from its heartbeats."""
        self.turns_running = 0
        """Text turns being answered without the voice loop."""
        self._turn_lock = asyncio.Lock()
        self._turns: set[asyncio.Task[None]] = set()
        self._presence_refreshed = 0.0
        self._presence_every_s = services.settings.presence_ttl_s / 3
        self._presence_lock = asyncio.Lock()
        """Presence writes one at a time, each with the status of its moment: the last write wins."""
        self._closing = False
        self._told_no_voice = False
        self.reply_audio: ReplyAudio | None = None
        """Where reply audio goes instead of `audio_response` chunks (a WebRTC peer's outgoing track)."""
        self.voice: VoiceLink | None = None
        self.live = LiveSession(services=services, connection=self.connection, device_id=device_id)
        self.clock = ClockSamples()
        """The device's clock, from its timestamped heartbeats."""

    def deliver(self, message: BusMessage) -> None:
        """The bus's callback for this device: commands and closes go to the connection, session changes to
        the live session (it only enqueues: the bus reader is never blocked)."""
        match message:
            case SessionChange(event=event):
                self.live.submit(event)  # queued until the live session starts
            case CommandDelivery(command=command):
                self.connection.send_command(command)
            case Disconnect(connection_id=target) if target in (None, self.connection.connection_id):
                self.connection.close(message)
            case Disconnect():
                pass  # meant for another connection of the device (one this connection replaced)

    async def run(self) -> None:
        services = self.services
        settings = services.settings
        try:
            try:
                async with services.take_overs.turn(self.device_id):
                    owner = await self._take_over()
            except ApiError as error:  # the token went stale while this connection connected
                await self.transport.refuse(error)
                return
            if not owner:  # a newer connection of the device claimed it meanwhile, on another instance
                await self.transport.close(CLOSE_REPLACED, REPLACED_REASON)
                return
            # Only now does anything reach the device: a connection that lost the claim never sent a thing.
            self.connection.start()
            if services.voice is not None:
                self.voice = VoiceLink(
                    services=services,
                    runtime=services.voice,
                    connection=self.connection,
                    device_id=self.device_id,
                    base_url=self.transport.base_url,
                    sample_rate=self.transport.sample_rate,
                    reply_audio=self.reply_audio,
                    on_replying=self._replying_changed,
                )
                await self.voice.start()
            self.live.start(self.voice)
            runtime = await services.store.get_runtime(self.device_id)
            await services.devices.touch(self.device_id)
            connected = ConnectedPayload(
                device_id=self.device_id,
                instance_id=settings.instance_id,
                active_persona_id=services.devices.answering_persona(runtime),
                active_session_id=runtime.active_session_id,
                heartbeat_interval_s=settings.presence_ttl_s / 3,
                server_time=utcnow().isoformat(),
            )
            self.connection.send(Connected(payload=connected))
            await self._receive_loop()
        finally:
            await self._close()

    async def _take_over(self) -> bool:
        """Make this connection the device's one connection, on every instance; False if a newer one won.

        The claim is one atomic write of the store's presence (the newest claim wins), so of two
        connections connecting at the same moment, on one instance or two, exactly one stays: the other
        is closed by a `Disconnect` addressed to its connection id or, if that came before it was
        attached to the bus, finds the presence no longer its own just after attaching. Then the
        token is checked again: a rotation or deregistration made while this connection connected either
        reached it through the bus or is seen here."""
        services = self.services
        self._presence_refreshed = time.monotonic()
        previous = await services.store.claim_presence(
            self.device_id, self._presence("online"), services.settings.presence_ttl_s
        )
        if previous is not None and previous.connection_id != self.connection.connection_id:
            await self._replace(previous)
        services.connections[self.device_id] = self.connection
        # Changes that arrive before the live session starts wait in its queue.
        await services.bus.attach(self.device_id, self.deliver)
        owner = await services.store.get_presence(self.device_id)
        if owner is not None and owner.connection_id != self.connection.connection_id:
            return False
        await check_standing(services, self.principal, self.device_id)
        services.events.device_status(self.device_id, "online")
        return True

    async def _replace(self, previous: Presence) -> None:
        """Close the connection this one replaces: here by a direct call (the bus would route to this
        connection once it attaches), on another instance through the bus, addressed to that connection."""
        services = self.services
        replaced = Disconnect(
            reason=REPLACED_REASON, close_code=CLOSE_REPLACED, connection_id=previous.connection_id or None
        )
        if previous.instance_id != services.settings.instance_id:
            await services.bus.send(self.device_id, replaced)
            return
        local = services.connections.get(self.device_id)
        if local is not None and local.connection_id == previous.connection_id:
            local.close(replaced)

    async def _close(self) -> None:
        """Everything `run` set up, undone, whatever point it reached, each step whatever the others
        did (the store may be unreachable): the connection never stays counted or routed to here."""
        services = self.services
        self._closing = True  # no presence write from here on: the device is going offline
        for task in self._turns:
            task.cancel()
        try:
            if self.voice is not None:
                await _undo("voice loop", self.device_id, self.voice.stop())
            await _undo("live session", self.device_id, self.live.stop())
            await _undo("bus routing", self.device_id, services.bus.detach(self.device_id, self.deliver))
        finally:
            owned = services.connections.get(self.device_id) is self.connection
            if owned:
                del services.connections[self.device_id]
            try:
                if owned:
                    # Only the device's current connection here owns its presence: a connection the device
                    # has already replaced by reconnecting must not mark it offline as it closes.
                    replaced = self.connection.close_reason == REPLACED_REASON  # online elsewhere now
                    services.events.device_status(self.device_id, "offline", quiet=replaced)
                    async with self._presence_lock:  # after any write already under way
                        await _undo("presence", self.device_id, self._clear_presence())
            finally:
                await self.connection.stop()

    async def _clear_presence(self) -> None:
        """Mark the device offline; with the store away, once it is back (unless the device has connected
        here again meanwhile), else its presence would show it online until its TTL ran out."""
        services = self.services

        async def clear() -> None:
            if self.device_id not in services.connections:
                await services.store.release_presence(self.device_id, self.connection.connection_id)

        await services.catch_up.run(f"presence of {self.device_id}", clear)

    async def _receive_loop(self) -> None:
        limit = self.services.settings.max_ws_message_bytes
        idle_timeout = self.services.settings.presence_ttl_s
        while True:
            try:
                # Not asyncio.wait_for: pipecat replaces it (wait_for2) with one that starts a task per
                # call, i.e. per 20 ms audio frame of every device.
                async with asyncio.timeout(idle_timeout):
                    data = await self.transport.receive()
            except TimeoutError:
                await self.transport.close(CLOSE_NO_HEARTBEAT, "no heartbeat")
                return
            if data is None:
                return
            if time.monotonic() - self._presence_refreshed >= self._presence_every_s:  # not on every frame
                await self._refresh_presence()
            if isinstance(data, MicAudio):
                await self._handle_mic(data)
                continue
            size = _size_in_bytes(data)
            if size > limit:
                self._error(ValidationFailed("Message too large", details={"max_bytes": limit, "size": size}))
            elif isinstance(data, bytes):
                await self._handle_binary(data)
            else:
                await self._handle_text(data)

    async def _handle_mic(self, audio: MicAudio) -> None:
        """A WebRTC microphone's audio: into the same listening stage as `audio_stream`."""
        if self.voice is not None:
            await self.voice.mic_audio(audio.pcm, audio.sample_rate)
        elif not self._told_no_voice:  # once, not 50 times a second
            self._told_no_voice = True
            self._error(NotSupported("Audio is not processed: this server runs without its voice models"))

    async def _handle_text(self, data: str) -> None:
        try:
            message = protocol.decode(data)
        except msgspec.ValidationError as exc:  # JSON, but not a message of the protocol
            self._error(ValidationFailed(f"Invalid message: {exc}", details={"reason": str(exc)}))
            return
        except msgspec.DecodeError as exc:  # not JSON at all: the same code REST gives a malformed body
            self._error(InvalidJson("Message is not valid JSON", details={"reason": str(exc)}))
            return
        try:
            await self._dispatch(message)
        except ApiError as error:
            self._error(error)
        except msgspec.ValidationError as exc:
            self._error(ValidationFailed(f"Invalid message: {exc}", details={"reason": str(exc)}))
        except StoreUnreachable:  # what the message needed the store for is not done; the connection stays
            self._error(StoreUnavailable())

    async def _handle_binary(self, data: bytes) -> None:
        if self.voice is None:
            self._error(NotSupported("Audio is not processed: this server runs without its voice models"))
            return
        try:
            await self.voice.audio_binary(data)
        except ApiError as error:
            self._error(error)

    async def _dispatch(self, message: protocol.Incoming) -> None:
        match message:
            case protocol.Heartbeat(payload=payload):
                t1 = server_ms()
                self.device_busy = payload.status == "busy"
                self.clock.received(payload.t3)  # the presence written next carries the estimate
                await self._refresh_presence()
                self._heartbeat_ack(payload.t0, t1)
            case protocol.TextInput(payload=payload) if self.voice is not None:
                await self.voice.text(payload.text, payload.session_id)
            case protocol.TextInput(payload=payload):
                task = asyncio.create_task(self._turn(payload.text, payload.session_id))
                self._turns.add(task)
                task.add_done_callback(self._turns.discard)
            case protocol.Ack():
                await self._ack(message)
            case protocol.ButtonPress(payload=payload):
                await self.services.catch_up.run(
                    f"activity of {self.device_id}", lambda: self.services.devices.touch(self.device_id)
                )
                if self.voice is not None:
                    await self.voice.button(payload)
                else:
                    await self._game_button(payload)
            case protocol.AudioStream(payload=payload):
                if self.voice is None:
                    raise NotSupported("Audio is not processed: this server runs without its voice models")
                await self.voice.audio_message(payload)
            case protocol.Auth():
                raise ValidationFailed("Already authenticated", details={})

    async def _turn(self, text: str, session_id: str | None) -> None:
        started = time.perf_counter()
        async with self._turn_lock:
            self.turns_running += 1
            await self._refresh_presence()
            try:
                if session_id is None and await self._game_turn(text, started):
                    return  # an answer to the device's game (server/activities/answers.py)
                result = await self.services.dialog.run_turn(
                    device_id=self.device_id, text=text, session_id=session_id, started=started
                )
            except ApiError as error:
                self._error(error)
                return
            except StoreUnreachable:
                self._error(StoreUnavailable())
                return
            finally:
                self.turns_running -= 1
                await self._refresh_presence()
        reply = TextReplyPayload(
            text=result.text,
            session_id=result.session.session_id,
            persona_id=result.persona_id,
            latency_ms=round(result.latency_ms),
            tokens_used=result.tokens_used,
        )
        self.connection.send(TextReply(payload=reply))

    async def _game_turn(self, text: str, started: float) -> bool:
        """Without a voice loop, a typed turn of a device in a trivia or story game answers it
        (the voice loop does this with its `GameResponder`); False if the device is in no game."""
        game = await game_session(self.services.store, self.device_id)
        if game is None or is_critical(self.services.responders.get(game[1].persona_id), text):
            return False
        answering, session = game
        self.services.alerts.heard(self.device_id, session.session_id, text, "text_input")
        line = await answering.said(text, by="text")
        latency_ms = round((time.perf_counter() - started) * 1000)
        reply = TextReplyPayload(
            text=line,
            session_id=session.session_id,
            persona_id=session.persona_id,
            latency_ms=latency_ms,
            tokens_used=0,
        )
        self.connection.send(TextReply(payload=reply))
        return True

    async def _game_button(self, payload: protocol.ButtonPressPayload) -> None:
        """Without a voice loop, an option's button answers the device's game, answered in text."""
        game = await game_session(self.services.store, self.device_id)
        line = await game[0].pressed(payload.button) if game is not None else None
        if game is not None and line is not None:
            session = game[1]
            reply = TextReplyPayload(
                text=line,
                session_id=session.session_id,
                persona_id=session.persona_id,
                latency_ms=0,
                tokens_used=0,
            )
            self.connection.send(TextReply(payload=reply))

    async def _ack(self, message: protocol.Ack) -> None:
        fields = protocol.ack_fields(message)
        command_id = self.connection.take_unacked(fields.command_id)
        if command_id is None:
            raise ValidationFailed("Nothing to acknowledge", details={})
        recorded = await self.services.commands.record_ack(self.device_id, command_id, message.payload)
        if recorded is None:
            raise ValidationFailed("Unknown command_id", details={"command_id": command_id})
        self.services.events.command_acked(self.device_id, command_id, recorded.payload.message_type)

    async def _replying_changed(self) -> None:
        """The voice loop started or finished producing and playing a reply: the status follows."""
        await self._refresh_presence()

    async def _refresh_presence(self) -> None:
        """Write the presence key now (its status may have changed); the receive loop keeps it alive,
        at most every third of its TTL.

        `busy` while the device says so, or a reply is being produced or played for it."""
        ttl = self.services.settings.presence_ttl_s
        self._presence_refreshed = time.monotonic()
        async with self._presence_lock:
            if self._closing:
                return
            replying = self.turns_running > 0 or (self.voice is not None and self.voice.replying)
            status: PresenceStatus = "busy" if (self.device_busy or replying) else "online"
            presence = self._presence(status)
            try:
                await self._write_presence(presence, ttl)
                self.services.events.device_status(self.device_id, status)
            except StoreUnreachable:
                # The connection stays open; the presence is written again soon, and then kept up as usual.
                self._presence_refreshed = time.monotonic() - self._presence_every_s + PRESENCE_RETRY_S
                log.warning("store unreachable: presence of %s not written; retrying", self.device_id)

    async def _write_presence(self, presence: Presence, ttl: float) -> None:
        """Keep the presence this connection claimed; if a newer connection of the device claimed it, close
        (its `Disconnect` may still be on its way, or lost while this connection was not yet listening)."""
        if not await self.services.store.refresh_presence(self.device_id, presence, ttl):
            self.connection.close(Disconnect(reason=REPLACED_REASON, close_code=CLOSE_REPLACED))

    def _presence(self, status: PresenceStatus) -> Presence:
        return Presence(
            instance_id=self.services.settings.instance_id,
            status=status,
            connected_at=self.connected_at,
            connection_id=self.connection.connection_id,
            clock=self.clock.best,
        )

    def _heartbeat_ack(self, t0: float | None, t1: float) -> None:
        """The ack, with the clock's stamps when the heartbeat had its `t0` (server/media/clock.py)."""
        now = utcnow().isoformat()
        t2 = server_ms()
        if t0 is None:
            payload = HeartbeatAckPayload(server_time=now)
        else:
            payload = HeartbeatAckPayload(server_time=now, t0=t0, t1=t1, t2=t2)
        self.connection.send(HeartbeatAck(payload=payload))
        self.clock.sent(t0, t1, t2)

    def _error(self, error: ApiError) -> None:
        self.connection.send(error_message(error))


async def check_standing(services: Services, principal: Principal, device_id: str) -> None:
    """The token still stands (server/auth.py): 4401 if rotated or revoked, 4404 for a device the
    store does not know (never registered, or lost with a store that kept nothing)."""
    try:
        await services.tokens.check_standing(principal)
    except Unauthorized as error:
        if error.details.get("reason") == "unknown_device":
            raise DeviceNotFound(device_id) from None
        raise


def _size_in_bytes(data: str | bytes) -> int:
    """The frame's size on the wire: a text frame's UTF-8 bytes, not its characters."""
    return len(data) if isinstance(data, bytes) else len(data.encode())


def error_message(error: ApiError) -> messages.Error:
    body = ErrorResponse(
        error_code=error.error_code,
        message=error.message,
        details=error.details,
        request_id=f"req_{secrets.token_hex(8)}",
    )
    return messages.Error(payload=body)


async def _undo(what: str, device_id: str, step: Awaitable[None]) -> None:
    """One step of closing a connection; a failure is logged (by type: its text could carry what was said)
    and the closing goes on."""
    try:
        await step
    except Exception as exc:
        log.warning("closing %s: %s failed (%s); the rest is undone", device_id, what, type(exc).__name__)
