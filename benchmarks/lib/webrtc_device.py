"""The simulated WebRTC device, shared by the benchmarks and the end-to-end tests: an aiortc peer that
offers its microphone (Opus, 48 kHz) and an `events` data channel, completes ICE before offering,
and records the reply audio its incoming track plays, frame by frame, with arrival times.

It is a `DeviceSocket` (`benchmarks.lib.device`) whose connection is the `events` channel, so waits,
`send` and `heartbeat_acked` work as on a WebSocket; `benchmarks.lib.microphone.Microphone` streams
into it at 48 kHz (`send_audio` queues a 20 ms frame; the track hands it to aiortc as it is due).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from av import AudioFrame, Packet

from benchmarks.lib.device import CONNECT_TIMEOUT_S, DeviceError, DeviceSocket, of_type
from benchmarks.lib.microphone import Int16
from server.paths import API_PREFIX
from server.webrtc.tracks import PromptAudioBuffer, opus_silence, silence_packet

RATE = 48_000
FRAME_SAMPLES = 960
VOICED_RMS = 300.0
"""A received 20 ms frame louder than this carries reply speech (the server sends digital silence)."""


class MicrophoneTrack(MediaStreamTrack):
    """The device's microphone: 20 ms frames as `Microphone` sends them, silence until the first."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._frames: asyncio.Queue[bytes] = asyncio.Queue()
        self._pts = 0
        self._silence = opus_silence()
        self._silent = bytes(2 * FRAME_SAMPLES)

    def put(self, pcm16: bytes) -> None:
        self._frames.put_nowait(pcm16)

    async def recv(self) -> AudioFrame | Packet:
        if self.readyState != "live":
            raise MediaStreamError
        data = await self._frames.get()
        if self._pts and data == self._silent:  # as a phone or browser would, digital silence costs nothing
            packet = silence_packet(self._silence, self._pts)
            self._pts += len(data) // 2
            return packet
        frame = AudioFrame(format="s16", layout="mono", samples=len(data) // 2)
        frame.planes[0].update(data)
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += len(data) // 2
        return frame


@dataclass(frozen=True)
class Arrival:
    """One RTP packet of the incoming track, as it reached the device (before any decoding)."""

    at: float
    """`time.perf_counter()` when the packet was received."""
    sequence: int
    timestamp: int
    silence: bool
    """Its payload is the server's pre-encoded silence packet (what the track sends with no reply)."""


class ArrivalBuffer(PromptAudioBuffer):
    """The device's jitter buffer (the server's `PromptAudioBuffer`: each packet decoded as it arrives),
    recording every packet it passes on: the decoder makes one 20 ms frame of each, in order, so the
    n-th frame the track plays is the n-th packet here."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[Arrival] = []
        self._silence = opus_silence()

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        at = time.perf_counter()
        pli, frame = super().add(packet)
        if frame is not None:
            silence = frame.data == self._silence
            self.arrivals.append(Arrival(at, packet.sequence_number, packet.timestamp, silence))
        return pli, frame


def stock_release_times(arrivals: list[Arrival]) -> list[float | None]:
    """When aiortc's own audio jitter buffer (capacity 16, prefetch 4, as `RTCRtpReceiver` makes it)
    would have handed each of these packets to the decoder: the same packets, replayed through it."""
    buffer = JitterBuffer(capacity=16, prefetch=4)
    released: dict[int, float] = {}
    for arrival in arrivals:
        packet = RtpPacket(sequence_number=arrival.sequence, timestamp=arrival.timestamp)
        packet._data = b"x"  # type: ignore[attr-defined]  # as the receiver depayloads it
        _, frame = buffer.add(packet)
        if frame is not None:
            released.setdefault(frame.timestamp, arrival.at)
    return [released.get(arrival.timestamp) for arrival in arrivals]


@dataclass(frozen=True)
class Heard:
    at: float
    """`time.perf_counter()` when the frame came out of the device's decoder."""
    rms: float
    peak: int
    """The largest absolute sample."""
    arrival: Arrival | None = None
    """The RTP packet it was decoded from."""


class Speaker:
    """Everything the incoming track played: each frame's arrival time and loudness (48 kHz)."""

    def __init__(self) -> None:
        self.frames: list[Heard] = []
        self.buffer = ArrivalBuffer()
        """The incoming track's jitter buffer (the device installs it on its receiver)."""
        self._arrived = asyncio.Condition()
        self._waiters = 0
        self._task: asyncio.Task[None] | None = None

    def listen(self, track: MediaStreamTrack) -> None:
        self._task = asyncio.create_task(self._read(track), name="webrtc-speaker")

    async def _read(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples = frame.to_ndarray().astype(np.float64)  # type: ignore[union-attr]
            rms = float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0
            peak = int(np.max(np.abs(samples))) if samples.size else 0
            arrivals = self.buffer.arrivals
            arrival = arrivals[len(self.frames)] if len(self.frames) < len(arrivals) else None
            self.frames.append(Heard(time.perf_counter(), rms, peak, arrival))
            if self._waiters:
                async with self._arrived:
                    self._arrived.notify_all()

    async def wait_voiced(self, since: float, seconds: float, *, timeout: float = 60.0) -> None:  # noqa: ASYNC109  # as DeviceSocket.wait_for
        """Returns once `seconds` of voiced audio have arrived after `since`."""
        self._waiters += 1
        try:
            async with asyncio.timeout(timeout), self._arrived:
                await self._arrived.wait_for(lambda: self.voiced_s(since) >= seconds)
        finally:
            self._waiters -= 1

    def first_voiced(self, since: float, *, level: float = VOICED_RMS) -> float | None:
        """When the first frame after `since` louder than `level` arrived."""
        return next((f.at for f in self.frames if f.at > since and f.rms > level), None)

    def first_audible(self, since: float, *, peak: int) -> float | None:
        """When the first frame after `since` with a sample above `peak` arrived."""
        return next((f.at for f in self.frames if f.at > since and f.peak > peak), None)

    def first_audible_frame(self, since: float, *, peak: int) -> Heard | None:
        """The first frame decoded after `since` with a sample above `peak`."""
        return next((f for f in self.frames if f.at > since and f.peak > peak), None)

    def first_reply_packet(self, since: float) -> Arrival | None:
        """The first packet received after `since` that is not the server's silence packet."""
        return next((a for a in self.buffer.arrivals if a.at > since and not a.silence), None)

    def frames_since(self, since: float) -> int:
        return sum(1 for f in self.frames if f.at > since)

    def voiced_s(self, since: float, until: float = float("inf")) -> float:
        """Seconds of voiced audio received between `since` and `until`."""
        return 0.02 * sum(1 for f in self.frames if since < f.at <= until and f.rms > VOICED_RMS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _EventsChannel:
    """The `events` data channel as the connection `DeviceSocket` reads: its messages, in order, and the
    server's `close` message as the close code and reason."""

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason = ""
        channel.on("message", self._queue.put_nowait)
        channel.on("close", lambda: self._queue.put_nowait(None))

    def __aiter__(self) -> _EventsChannel:
        return self

    async def __anext__(self) -> str | bytes:
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        if isinstance(item, str) and item.startswith('{"type":"close"'):
            payload = json.loads(item)["payload"]
            self.close_code, self.close_reason = payload["code"], payload["reason"]
        return item

    async def send(self, data: str | bytes) -> None:
        if self._channel.readyState != "open":
            raise ConnectionError("the events channel is closed")
        self._channel.send(data)

    async def close(self) -> None:
        self._channel.close()


class WebRTCDevice(DeviceSocket):
    pc: RTCPeerConnection
    microphone: MicrophoneTrack
    speaker: Speaker
    connection_id: str

    @classmethod
    async def connect(  # type: ignore[override]  # a peer connection, not a socket URL
        cls, base_url: str, device_id: str, token: str, *, ice_servers: list[Any] | None = None, **kwargs: Any
    ) -> WebRTCDevice:
        """Offer (after gathering), take the answer, and wait for the server's `connected` message."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or []))
        microphone = MicrophoneTrack()
        speaker = Speaker()
        pc.addTrack(microphone)
        channel = pc.createDataChannel("events")
        pc.on("track", speaker.listen)
        # As the server does for its microphones (server.webrtc.tracks.prompt_audio): the device plays
        # each frame as it arrives (the WebSocket device "plays" each chunk on arrival too).
        pc.on("track", lambda track: _prompt_audio(pc, track, speaker.buffer))
        try:
            await pc.setLocalDescription(await pc.createOffer())
            answer = await post_offer(base_url, device_id, token, pc.localDescription.sdp)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
        except BaseException:
            await pc.close()
            raise
        device = cls(_EventsChannel(channel), device_id, **kwargs)  # type: ignore[arg-type]
        device.pc, device.microphone, device.speaker = pc, microphone, speaker
        device.connection_id = answer["connection_id"]
        try:
            await device.wait_for(of_type("connected"), timeout=CONNECT_TIMEOUT_S)
        except BaseException:
            await device.close()
            raise
        return device

    async def send_audio(self, pcm16: bytes) -> None:
        """One 20 ms microphone frame (48 kHz PCM16 mono), sent on the track as it is due."""
        self.microphone.put(pcm16)

    async def close(self) -> None:
        self.microphone.stop()
        await self.pc.close()
        await self.speaker.stop()
        with contextlib.suppress(Exception):
            await self._reader


def _prompt_audio(pc: RTCPeerConnection, track: MediaStreamTrack, buffer: PromptAudioBuffer) -> None:
    for transceiver in pc.getTransceivers():
        if transceiver.receiver.track is track:
            # As server.webrtc.tracks.prompt_audio does, with a buffer that records the arrivals.
            setattr(transceiver.receiver, "_RTCRtpReceiver__jitter_buffer", buffer)  # noqa: B010  # aiortc's private attribute


async def post_offer(base_url: str, device_id: str, token: str, sdp: str) -> dict[str, Any]:
    """`POST /devices/{id}/webrtc/offer`; the answer's body, or `DeviceError` with the server's."""
    async with httpx.AsyncClient(base_url=base_url + API_PREFIX, timeout=30, trust_env=False) as http:
        response = await http.post(
            f"/devices/{device_id}/webrtc/offer",
            json={"sdp": sdp, "type": "offer"},
            headers={"Authorization": f"Bearer {token}"},
        )
    if response.status_code != 200:
        raise DeviceError(f"offer answered {response.status_code}: {response.text[:300]}")
    body: dict[str, Any] = response.json()
    return body


def at_48k(pcm: Int16, sample_rate: int) -> Int16:
    """A fixture's samples at the microphone's 48 kHz (a browser captures at 48 kHz)."""
    from pipeline.audio import resample

    return resample(pcm, sample_rate, RATE)
