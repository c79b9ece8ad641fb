"""One device's WebRTC peer connection as a `Transport` of the shared device session.

In: the `events` data channel's messages (the WebSocket protocol's JSON, the same decoder) and
the microphone track's audio, one inbox in arrival order. Out: the device session's writer
sends on the `events` channel; reply audio plays on `reply_track`. The peer is gone when its
connection fails or closes, or its `events` channel closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import MediaStreamTrack, RTCDataChannel, RTCPeerConnection, RTCSctpTransport

from server.errors import ApiError, InvalidJson, MessagesDropped
from server.webrtc.tracks import ReplyTrack, prompt_audio, read_microphone
from server.ws import messages
from server.ws.device_session import error_message
from server.ws.messages import Closed, ClosedPayload
from server.ws.transport import Inbound, MicAudio

log = logging.getLogger(__name__)

EVENTS_LABEL = "events"
MAX_AUDIO_BACKLOG = 250
"""Microphone frames (20 ms each, so 5 s) waiting for the session before more are dropped."""
MAX_MESSAGE_BACKLOG = 256
MAX_MESSAGE_BACKLOG_BYTES = 1024 * 1024
"""Data-channel messages waiting for the session before more are dropped. aiortc hands over every
message as it arrives (a socket would stop reading and let TCP hold the device back): a device
sending faster than its session reads would otherwise grow the server's memory without bound."""
HIGH_WATER_BYTES = 1024 * 1024
"""Messages queued on the data channel before the writer waits for the device to take them."""
LOW_WATER_BYTES = 256 * 1024
_WEBRTC_STRING = 51
"""The SCTP payload protocol id of a text message (RFC 8831)."""
FLUSH_S = 1.0
"""How long a close waits for the last messages (the `close` message among them) to leave."""


class PeerTransport:
    def __init__(self, pc: RTCPeerConnection, *, base_url: str) -> None:
        self.pc = pc
        self.base_url = base_url
        self.sample_rate: int | None = None
        self.reply_track = ReplyTrack()
        self._inbox: asyncio.Queue[Inbound | None] = asyncio.Queue()
        self._events: RTCDataChannel | None = None
        self._ready = asyncio.Event()
        """The `events` channel is open, or the peer is gone."""
        self._gone = False
        self._drained = asyncio.Event()
        self._microphone: asyncio.Task[None] | None = None
        self._closed: asyncio.Task[None] | None = None
        self._dropped = 0
        self._backlog = 0
        self._backlog_bytes = 0
        self.dropped_messages = 0
        """Data-channel messages dropped because the backlog was full."""
        self._flooding = False
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)

    @property
    def channel(self) -> PeerTransport:
        return self

    @property
    def is_open(self) -> bool:
        return not self._gone and self._events is not None and self._events.readyState == "open"

    async def wait_ready(self) -> bool:
        """Wait until the device's `events` channel is open: True, or False if the peer went first."""
        await self._ready.wait()
        return self.is_open

    # Transport

    async def receive(self) -> Inbound | None:
        item = await self._inbox.get()
        if isinstance(item, (str, bytes)):
            self._backlog -= 1
            self._backlog_bytes -= len(item)
            if self._flooding and self._backlog <= MAX_MESSAGE_BACKLOG // 2:
                self._flooding = False  # caught up: a next flood is reported again
        return item

    async def send_text(self, data: bytes) -> None:
        events = self._events
        if events is None or events.readyState != "open":
            raise ConnectionError("the events channel is closed")
        if events.bufferedAmount > HIGH_WATER_BYTES:  # a device not reading: wait, as a socket would
            self._drained.clear()
            await self._drained.wait()
            if events.readyState != "open":
                raise ConnectionError("the events channel is closed")
        events.send(data.decode())

    async def refuse(self, error: ApiError) -> None:
        if self.is_open:
            await self.send_text(messages.encode_message(error_message(error)))
        await self.close(4000 + error.status_code, error.error_code)

    async def close(self, code: int, reason: str) -> None:
        """Say why in a last `close` message, let it leave, and close the peer connection."""
        with contextlib.suppress(Exception):
            if self.is_open:
                await self.send_text(
                    messages.encode_message(Closed(payload=ClosedPayload(code=code, reason=reason)))
                )
                await self._flush()
        await self.shutdown()

    async def shutdown(self) -> None:
        """Close the peer connection and stop its tracks; the receiver sees the peer gone."""
        self._gone_now()
        self.reply_track.stop()
        if self._microphone is not None:
            self._microphone.cancel()
        if self._closed is None:
            # One close, run to its end even if a caller is cancelled meanwhile (the writer task may be
            # the one closing): aiortc's second close would wait forever on a first one cut short.
            self._closed = asyncio.create_task(self.pc.close(), name="webrtc-close")
        with contextlib.suppress(Exception):
            await asyncio.shield(self._closed)

    def guard(self, sctp: RTCSctpTransport) -> None:
        """Keep a device's malformed data-channel traffic from ending its peer: aiortc decodes a text
        message (and a channel-open request) inside its DTLS receive loop, where any exception (invalid
        UTF-8, a second open of the same stream) closes the whole peer connection. Here a text message
        that is not UTF-8 is answered with `INVALID_JSON`, as any message that is not JSON, and anything
        else aiortc cannot take is dropped (logged); the channel and peer stay up."""
        receive = sctp._receive

        async def guarded(stream_id: int, pp_id: int, data: bytes) -> None:
            if pp_id == _WEBRTC_STRING:
                try:
                    data.decode()
                except UnicodeDecodeError as exc:
                    self._on_invalid_text(exc)
                    return
            try:
                await receive(stream_id, pp_id, data)
            except Exception as exc:  # a DCEP message aiortc asserts on: the peer stays
                log.warning("webrtc: a data-channel message aiortc refused, dropped (%s)", type(exc).__name__)

        sctp._receive = guarded  # type: ignore[method-assign]

    def _on_invalid_text(self, exc: UnicodeDecodeError) -> None:
        self._say(InvalidJson("Message is not valid UTF-8 text", details={"reason": str(exc)}))

    def _say(self, error: ApiError) -> None:
        """An `error` message on the events channel, now (from aiortc's receive loop: no waiting)."""
        events = self._events
        if events is None or events.readyState != "open":
            return
        with contextlib.suppress(Exception):
            events.send(messages.encode_message(error_message(error)).decode())

    # aiortc's events

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != EVENTS_LABEL or self._events is not None:
            log.debug("data channel %r ignored", channel.label)
            return
        self._events = channel
        channel.bufferedAmountLowThreshold = LOW_WATER_BYTES
        channel.on("message", self._on_message)
        channel.on("bufferedamountlow", self._drained.set)
        channel.on("close", self._gone_now)
        self._ready.set()

    def _on_message(self, message: str | bytes) -> None:
        if (
            self._backlog >= MAX_MESSAGE_BACKLOG
            or self._backlog_bytes + len(message) > MAX_MESSAGE_BACKLOG_BYTES
        ):
            self.dropped_messages += 1
            if not self._flooding:  # said once a flood, not once a message (that would flood the device)
                self._flooding = True
                log.warning("webrtc data channel: messages dropped, %d waiting", self._backlog)
                self._say(
                    MessagesDropped(max_messages=MAX_MESSAGE_BACKLOG, max_bytes=MAX_MESSAGE_BACKLOG_BYTES)
                )
            return
        self._backlog += 1
        self._backlog_bytes += len(message)
        self._inbox.put_nowait(message)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind != "audio" or self._microphone is not None:
            return
        for transceiver in self.pc.getTransceivers():
            if transceiver.receiver.track is track:
                prompt_audio(transceiver.receiver)
        self._microphone = asyncio.create_task(
            read_microphone(track, self._on_audio), name="webrtc-microphone"
        )

    def _on_audio(self, audio: MicAudio) -> None:
        if self._inbox.qsize() < MAX_AUDIO_BACKLOG:
            self._inbox.put_nowait(audio)
            return
        self._dropped += 1
        if self._dropped == 1:  # the session is not keeping up: say so once
            log.warning(
                "webrtc microphone: audio dropped, the session is %d frames behind", MAX_AUDIO_BACKLOG
            )

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            self._gone_now()

    def _gone_now(self) -> None:
        if self._gone:
            return
        self._gone = True
        self._inbox.put_nowait(None)
        self._ready.set()
        self._drained.set()

    async def _flush(self) -> None:
        events = self._events
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(FLUSH_S):
                # Polled: aiortc signals a drop below the low-water mark only, not an empty buffer.
                while events is not None and events.bufferedAmount > 0 and events.readyState == "open":  # noqa: ASYNC110
                    await asyncio.sleep(0.01)
                await asyncio.sleep(0.05)  # handed to SCTP: give it a moment on the wire
