"""The WebRTC peers of this instance: an offer answered, the peer's device session run, all closed at exit.

Complete ICE, not trickle: the device sends its offer once its own candidates are gathered, and
the answer comes back once the server's are (aiortc gathers them in `setLocalDescription`).
The device session starts only once the peer is connected and its `events` channel open: an
offer that never connects takes nothing over (the device's WebSocket, if any, stays).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

from server.auth import Principal
from server.errors import ApiError
from server.services import Services
from server.settings import IceServer
from server.webrtc.peer import EVENTS_LABEL, PeerTransport
from server.ws.device_session import DeviceSession, run_device_session

log = logging.getLogger(__name__)

CLOSE_WAIT_S = 5.0
"""At exit, how long the peers' sessions get to clean up before they are cancelled."""


class InvalidSdp(ApiError):
    status_code = 400
    error_code = "INVALID_SDP"


BUSY_RETRY_AFTER_S = 5
"""What `Retry-After` says when the instance holds its `COMPANION_WEBRTC_MAX_PEERS` peers."""


class PeersFull(ApiError):
    """The instance holds `COMPANION_WEBRTC_MAX_PEERS` peers: a new device's offer waits for one to leave
    (the same code as a connection refused at the connection budget)."""

    status_code = 503
    error_code = "SERVER_BUSY"

    def __init__(self, limit: int) -> None:
        super().__init__(
            "This server holds as many WebRTC peers as it may; retry later, or connect over WebSocket",
            details={"limit": limit, "retry_after_s": BUSY_RETRY_AFTER_S},
            headers={"Retry-After": str(BUSY_RETRY_AFTER_S)},
        )


def ice_servers(servers: tuple[IceServer, ...]) -> list[RTCIceServer]:
    """The configured STUN/TURN servers; none means host candidates only (aiortc's default would be
    a public STUN server, unreachable offline, which only delays gathering)."""
    return [RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential) for s in servers]


class Peers:
    def __init__(self, services: Services) -> None:
        self._services = services
        self._configuration = RTCConfiguration(iceServers=ice_servers(services.settings.webrtc_ice_servers))
        self._running: dict[asyncio.Task[None], PeerTransport] = {}
        self._pending: dict[str, PeerTransport] = {}
        """Per device, its answered peer that has not connected yet: a newer offer closes it, so a
        device (or a stolen token) holds at most one peer's sockets waiting to connect."""

    def __len__(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        """Answered peers not connected yet."""
        return len(self._pending)

    async def answer(
        self, *, device_id: str, principal: Principal, sdp: str, base_url: str
    ) -> tuple[str, str]:
        """Answer `sdp` (an offer) for `device_id`: the answer's SDP and the connection's id.
        `InvalidSdp` (400) if the offer cannot be negotiated; `PeersFull` (503) at the instance's cap,
        unless the device already holds a peer here (its new one replaces it: the newest wins)."""
        limit = self._services.settings.webrtc_max_peers
        if len(self._running) >= limit and not self._holds_peer(device_id):
            raise PeersFull(limit)
        pc = RTCPeerConnection(self._configuration)
        transport = PeerTransport(pc, base_url=base_url)
        try:
            answer = await _negotiate(pc, transport, sdp)
        except BaseException:
            await transport.shutdown()
            raise
        earlier = self._pending.pop(device_id, None)
        if earlier is not None:
            await earlier.shutdown()
        self._pending[device_id] = transport
        session = DeviceSession(transport, self._services, device_id, principal)
        session.reply_audio = transport.reply_track
        task = asyncio.create_task(self._run(transport, session), name=_task_name(device_id))
        self._running[task] = transport
        task.add_done_callback(self._running.pop)
        return answer, session.connection.connection_id

    def _holds_peer(self, device_id: str) -> bool:
        return any(task.get_name() == _task_name(device_id) for task in self._running)

    async def close(self) -> None:
        """Close every peer: each session cleans up (presence offline) as when its device leaves."""
        for transport in list(self._running.values()):
            await transport.shutdown()
        tasks = list(self._running)
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=CLOSE_WAIT_S)
        for task in late:
            task.cancel()
        for task in late:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, transport: PeerTransport, session: DeviceSession) -> None:
        device_id = session.device_id
        try:
            try:
                async with asyncio.timeout(self._services.settings.webrtc_connect_timeout_s):
                    ready = await transport.wait_ready()
            except TimeoutError:
                ready = False
            finally:
                if self._pending.get(device_id) is transport:
                    del self._pending[device_id]
            if not ready:
                log.info("webrtc peer of %s never connected; closed", device_id)
                return
            log.info("webrtc peer of %s connected (%s)", device_id, session.connection.connection_id)
            await run_device_session(session)
        finally:
            await transport.shutdown()


def _task_name(device_id: str) -> str:
    return f"webrtc-{device_id}"


async def _negotiate(pc: RTCPeerConnection, transport: PeerTransport, sdp: str) -> str:
    """The answer to the offer `sdp`, with the server's candidates gathered; the reply track goes
    on the offer's audio transceiver."""
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    except Exception as exc:  # aiortc's parser raises whatever it meets: say what, not where
        raise InvalidSdp("The offer is not valid SDP", details={"reason": type(exc).__name__}) from None
    if pc.sctp is None:
        raise InvalidSdp(
            f"The offer has no data channel: create one labelled '{EVENTS_LABEL}' before the offer",
            details={"reason": "no_data_channel"},
        )
    transport.guard(pc.sctp)
    audio = [t for t in pc.getTransceivers() if t.kind == "audio"]
    if len(audio) > 1:
        raise InvalidSdp("The offer has more than one audio track", details={"reason": "audio_tracks"})
    if audio:
        pc.addTrack(transport.reply_track)
    try:
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception as exc:
        raise InvalidSdp(
            "The offer cannot be answered (no codec or transport in common)",
            details={"reason": type(exc).__name__},
        ) from None
    return pc.localDescription.sdp
