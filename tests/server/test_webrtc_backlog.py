"""A device flooding its data channel: the peer's backlog stays bounded, the device is told once a flood.

aiortc hands the transport every message as it arrives (no TCP to hold a device back), so
this drives the real `PeerTransport` the way aiortc's receive loop does, with nothing reading.
Its `events` channel is a stand-in that records what is sent (aiortc's needs a live SCTP
association); the end-to-end data-channel behaviour is in test_webrtc_device.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aiortc import RTCPeerConnection

from server.webrtc.peer import MAX_MESSAGE_BACKLOG, MAX_MESSAGE_BACKLOG_BYTES, PeerTransport

HEARTBEAT = json.dumps({"type": "heartbeat", "payload": {}})


@dataclass
class Channel:
    readyState: str = "open"  # aiortc's attribute name
    sent: list[str] = field(default_factory=list)

    def send(self, data: str) -> None:
        self.sent.append(data)


async def _flooded(count: int, message: str = HEARTBEAT) -> tuple[PeerTransport, Channel]:
    pc = RTCPeerConnection()
    transport = PeerTransport(pc, base_url="http://127.0.0.1")
    channel = Channel()
    transport._events = channel  # type: ignore[assignment]
    for _ in range(count):
        transport._on_message(message)
    return transport, channel


def _errors(channel: Channel) -> list[dict[str, object]]:
    return [json.loads(m)["payload"] for m in channel.sent if json.loads(m)["type"] == "error"]


async def test_a_flood_is_cut_at_the_backlog_and_the_device_is_told_once() -> None:
    transport, channel = await _flooded(MAX_MESSAGE_BACKLOG + 500)
    try:
        assert transport._inbox.qsize() == MAX_MESSAGE_BACKLOG
        assert transport.dropped_messages == 500
        (error,) = _errors(channel)
        assert error["error_code"] == "RATE_LIMITED"
        assert error["details"] == {
            "scope": "data_channel",
            "max_messages": MAX_MESSAGE_BACKLOG,
            "max_bytes": MAX_MESSAGE_BACKLOG_BYTES,
        }
    finally:
        await transport.shutdown()


async def test_once_the_session_catches_up_messages_are_taken_again_and_a_new_flood_is_reported() -> None:
    transport, channel = await _flooded(MAX_MESSAGE_BACKLOG + 10)
    try:
        for _ in range(MAX_MESSAGE_BACKLOG // 2):
            assert await transport.receive() == HEARTBEAT
        transport._on_message(HEARTBEAT)
        assert transport.dropped_messages == 10  # taken: there is room again
        for _ in range(MAX_MESSAGE_BACKLOG):
            transport._on_message(HEARTBEAT)
        assert len(_errors(channel)) == 2
    finally:
        await transport.shutdown()


async def test_the_backlog_is_bounded_in_bytes_too() -> None:
    big = "x" * (MAX_MESSAGE_BACKLOG_BYTES // 4)
    transport, channel = await _flooded(10, big)
    try:
        assert transport._inbox.qsize() == 4
        assert transport.dropped_messages == 6
        assert len(_errors(channel)) == 1
    finally:
        await transport.shutdown()
