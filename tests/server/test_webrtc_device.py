"""WebRTC devices against the real app on a real socket, with a real aiortc peer (no voice models here:
the voice loop over WebRTC is in tests/voice/test_voice_webrtc.py).

The offer endpoint's errors, the `events` channel speaking the WebSocket protocol, presence, the
newest connection of a device winning over the other kind, and peers that close or fall silent.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from litestar.testing import AsyncTestClient

from benchmarks.lib.device import of_type
from benchmarks.lib.webrtc_device import MicrophoneTrack, WebRTCDevice
from server.app import create_app
from server.paths import API_PREFIX
from server.settings import IceServer
from server.webrtc.peers import Peers
from tests.server.conftest import ServerFactory, connect, one_server_per_module, register
from tests.server.helpers import (
    assert_error,
    assert_ws_error,
    close_code,
    device_state,
    poll,
    wait_for_status,
)
from tests.support.live_server import LiveServer, make_settings

server = one_server_per_module()


@pytest.fixture
async def peer(server: LiveServer, device: tuple[str, str]) -> AsyncIterator[WebRTCDevice]:
    connected = await WebRTCDevice.connect(server.base_url, *device)
    yield connected
    await connected.close()


async def _offer(*, audio: bool = True, events: bool = True) -> str:
    """A real aiortc offer (ICE gathered); the peer is closed again."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        if audio:
            pc.addTrack(MicrophoneTrack())
        if events:
            pc.createDataChannel("events")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def _post(server: LiveServer, device_id: str, token: str | None, body: object) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(
        f"{server.base_url}{API_PREFIX}/devices/{device_id}/webrtc/offer",
        json=body,
        headers=headers,
        timeout=30,
        trust_env=False,
    )


# The offer endpoint's errors


async def test_garbage_sdp_is_400_invalid_sdp(server: LiveServer, device: tuple[str, str]) -> None:
    device_id, token = device
    response = _post(server, device_id, token, {"sdp": "hello, I am not SDP", "type": "offer"})
    assert_error(response, 400, "INVALID_SDP")


async def test_an_offer_without_the_events_channel_is_400(
    server: LiveServer, device: tuple[str, str]
) -> None:
    device_id, token = device
    response = _post(server, device_id, token, {"sdp": await _offer(events=False), "type": "offer"})
    body = assert_error(response, 400, "INVALID_SDP")
    assert body["details"]["reason"] == "no_data_channel"


async def test_an_answer_instead_of_an_offer_is_422(server: LiveServer, device: tuple[str, str]) -> None:
    device_id, token = device
    response = _post(server, device_id, token, {"sdp": await _offer(), "type": "answer"})
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_tokens(server: LiveServer, client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, token = device
    _, other_token = await register(client)
    offer = {"sdp": await _offer(), "type": "offer"}
    assert_error(_post(server, device_id, None, offer), 401, "UNAUTHORIZED")
    assert_error(_post(server, device_id, token + "x", offer), 401, "UNAUTHORIZED")
    assert_error(_post(server, device_id, other_token, offer), 403, "FORBIDDEN")
    assert_error(_post(server, "dev_unknown", server.token(), offer), 404, "DEVICE_NOT_FOUND")
    assert (await device_state(client, device_id))["status"] == "offline"  # nothing refused connected


async def test_an_operator_token_opens_a_devices_peer(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    peer = await WebRTCDevice.connect(server.base_url, device_id, server.token())
    try:
        assert (await device_state(client, device_id))["status"] == "online"
    finally:
        await peer.close()


# The events channel speaks the WebSocket protocol


async def test_connected_then_heartbeats(peer: WebRTCDevice, client: httpx.AsyncClient) -> None:
    connected = peer.received(of_type("connected"))[0]
    assert connected.payload["device_id"] == peer.device_id
    await peer.heartbeat_acked()
    state = await device_state(client, peer.device_id)
    assert state["status"] == "online"
    since = peer.mark()
    await peer.send("heartbeat", {"status": "busy"})
    await peer.wait_for(of_type("heartbeat_ack"), since=since)
    assert (await device_state(client, peer.device_id))["status"] == "busy"


@pytest.mark.parametrize(
    ("raw", "code"),
    [("{not json", "INVALID_JSON"), ('{"type": "dance", "payload": {}}', "VALIDATION_ERROR")],
)
async def test_a_bad_message_gets_an_error_and_the_channel_stays(
    peer: WebRTCDevice, raw: str, code: str
) -> None:
    since = peer.mark()
    await peer.send_raw(raw)
    error = await peer.wait_for(of_type("error"), since=since)
    assert_ws_error({"type": error.type, "payload": error.payload}, code)
    await peer.heartbeat_acked()


async def test_text_that_is_not_utf8_gets_an_error_and_the_peer_stays(peer: WebRTCDevice) -> None:
    """A text message whose bytes are not UTF-8 (a string's payload protocol id, 51): aiortc's own
    decoding would raise in its DTLS loop and close the whole peer; here it is `INVALID_JSON`."""
    channel = peer.connection._channel  # type: ignore[attr-defined]
    data = b'{"type": "heartbeat", "payload": {"x": "\xff\xfe"}}'
    since = peer.mark()
    channel._addBufferedAmount(len(data))
    channel.transport._data_channel_queue.append((channel, 51, data))
    await channel.transport._data_channel_flush()
    error = await peer.wait_for(of_type("error"), since=since)
    assert_ws_error({"type": error.type, "payload": error.payload}, "INVALID_JSON")
    await peer.heartbeat_acked()
    assert peer.pc.connectionState == "connected"


async def test_a_second_open_of_the_events_stream_leaves_the_peer_up(peer: WebRTCDevice) -> None:
    """A channel-open request (DCEP, payload protocol id 50) for the stream `events` already uses:
    aiortc asserts on it in its DTLS loop, which would close the peer; here it is dropped."""
    channel = peer.connection._channel  # type: ignore[attr-defined]
    label = b"events"
    data = struct.pack("!BBHLHH", 0x03, 0, 0, 0, len(label), 0) + label
    channel._addBufferedAmount(len(data))
    channel.transport._data_channel_queue.append((channel, 50, data))
    await channel.transport._data_channel_flush()
    await peer.heartbeat_acked()
    await asyncio.sleep(0.2)  # anything the open did has happened by the next message
    await peer.heartbeat_acked()
    assert peer.pc.connectionState == "connected"


async def test_a_message_over_the_size_limit_gets_an_error_and_the_peer_stays(
    server_factory: ServerFactory,
) -> None:
    """`COMPANION_MAX_WS_MESSAGE_BYTES` holds on the `events` channel too."""
    with server_factory(max_ws_message_bytes=1000) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            peer = await WebRTCDevice.connect(live.base_url, device_id, token)
            try:
                since = peer.mark()
                await peer.send_raw('{"type": "heartbeat", "payload": {"pad": "' + "x" * 2000 + '"}}')
                error = await peer.wait_for(of_type("error"), since=since)
                assert_ws_error({"type": error.type, "payload": error.payload}, "VALIDATION_ERROR")
                assert error.payload["details"]["max_bytes"] == 1000
                await peer.heartbeat_acked()
            finally:
                await peer.close()


async def test_text_input_is_answered(peer: WebRTCDevice) -> None:
    since = peer.mark()
    await peer.send("text_input", {"text": "Hello there"})
    reply = await peer.wait_for(of_type("audio_response"), since=since)
    assert reply.payload["final"] is True
    assert reply.payload["text"]


async def test_an_operator_command_arrives_and_is_acknowledged(
    peer: WebRTCDevice, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        f"/devices/{peer.device_id}/commands", json={"type": "led_control", "payload": {"color": "blue"}}
    )
    assert response.status_code == 202, response.text
    command_id = response.json()["command_id"]
    command = await peer.wait_for(of_type("led_control", command_id=command_id))
    assert command.payload["color"] == "blue"
    since = peer.mark()
    await peer.send("ack", {"command_id": command_id})
    await peer.heartbeat_acked()  # the ack was read before the heartbeat that follows it
    assert not peer.received(of_type("error"), since=since)
    recorded = await client.get(f"/devices/{peer.device_id}/commands/{command_id}")
    assert recorded.json()["acked"] is True, recorded.text


# Presence, and which connection of a device wins


async def test_a_peer_that_closes_goes_offline(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, token = await register(client)
    peer = await WebRTCDevice.connect(server.base_url, device_id, token)
    assert (await device_state(client, device_id))["status"] == "online"
    await peer.close()
    await wait_for_status(client, device_id, "offline")


async def test_a_silent_peer_is_closed_and_offline(server_factory: ServerFactory) -> None:
    """No audio and no message for the presence TTL: the peer is gone (`close` 4408), the device offline."""
    with server_factory(presence_ttl_s=0.5) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            peer = await WebRTCDevice.connect(live.base_url, device_id, token)
            try:
                closed = await peer.wait_for(of_type("close"), timeout=10)
                assert closed.payload["code"] == 4408
                await wait_for_status(http, device_id, "offline")
            finally:
                await peer.close()


async def test_a_peer_takes_over_from_the_websocket(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, token = await register(client)
    socket = await connect(server, device_id, token)
    peer = await WebRTCDevice.connect(server.base_url, device_id, token)
    try:
        assert await close_code(socket) == 4409
        await peer.heartbeat_acked()
        assert (await device_state(client, device_id))["status"] == "online"
    finally:
        await peer.close()
    await wait_for_status(client, device_id, "offline")


async def test_a_websocket_takes_over_from_the_peer(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, token = await register(client)
    peer = await WebRTCDevice.connect(server.base_url, device_id, token)
    socket = await connect(server, device_id, token)
    try:
        closed = await peer.wait_for(of_type("close"))
        assert closed.payload["code"] == 4409
        await socket.send("heartbeat", {})
        await socket.expect("heartbeat_ack")
        assert (await device_state(client, device_id))["status"] == "online"
    finally:
        await socket.close()
        await peer.close()


async def test_an_offer_that_never_connects_takes_nothing_over(server_factory: ServerFactory) -> None:
    """Answered, but the device never completes the connection: its WebSocket stays the device's."""
    with server_factory(webrtc_connect_timeout_s=0.5) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            socket = await connect(live, device_id, token)
            async with socket:
                response = _post(live, device_id, token, {"sdp": await _offer(), "type": "offer"})
                assert response.status_code == 200, response.text
                await asyncio.sleep(1.0)  # past the connect timeout: the answered peer is closed by now
                await socket.send("heartbeat", {})
                await socket.expect("heartbeat_ack")
                assert (await device_state(http, device_id))["status"] == "online"


async def test_a_newer_offer_closes_the_devices_unconnected_peer(tmp_path: Path) -> None:
    """A device holds at most one answered peer waiting to connect: offers cannot pile up sockets."""
    app = create_app(make_settings(tmp_path))
    async with AsyncTestClient(app=app) as http:
        peers = app.state["peers"]
        operator = app.state["services"].tokens.issue(role="operator", subject="ops", ttl_s=60).token
        headers = {"Authorization": f"Bearer {operator}"}
        devices = []
        for _ in range(2):
            response = await http.post(
                f"{API_PREFIX}/devices", json={"name": "d", "device_type": "custom"}, headers=headers
            )
            assert response.status_code == 201, response.text
            devices.append(response.json()["device_id"])
        for device_id in (devices[0], devices[0], devices[0], devices[1]):
            offer = {"sdp": await _offer(), "type": "offer"}
            response = await http.post(
                f"{API_PREFIX}/devices/{device_id}/webrtc/offer", json=offer, headers=headers
            )
            assert response.status_code == 200, response.text
        assert peers.waiting == 2
        # The device's two earlier peers are closed (their tasks end), not left to time out.
        await poll(lambda: _count(peers), lambda running: running == 2)


async def _count(peers: Peers) -> int:
    return len(peers)


async def test_offers_past_the_peer_cap_are_503_server_busy(server_factory: ServerFactory) -> None:
    """`COMPANION_WEBRTC_MAX_PEERS`: a new device's offer past it is refused before anything is
    negotiated; the device that holds a peer may replace it (the newest wins); once it leaves, the
    other device gets in."""
    with server_factory(webrtc_max_peers=1) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            first, first_token = await register(http)
            second, second_token = await register(http)
            peer = await WebRTCDevice.connect(live.base_url, first, first_token)
            try:
                refused = _post(live, second, second_token, {"sdp": await _offer(), "type": "offer"})
                body = assert_error(refused, 503, "SERVER_BUSY")
                assert body["details"]["limit"] == 1
                assert refused.headers["Retry-After"] == str(body["details"]["retry_after_s"])
                assert (await device_state(http, second))["status"] == "offline"

                newer = await WebRTCDevice.connect(live.base_url, first, first_token)
                try:
                    closed = await peer.wait_for(of_type("close"))
                    assert closed.payload["code"] == 4409
                    await newer.heartbeat_acked()
                finally:
                    await newer.close()
            finally:
                await peer.close()
            await wait_for_status(http, first, "offline")
            offer = await _offer()
            answered = await poll(
                lambda: asyncio.to_thread(_post, live, second, second_token, {"sdp": offer, "type": "offer"}),
                lambda response: response.status_code == 200,
            )
            assert answered.status_code == 200, answered.text


async def test_the_ice_servers_the_server_uses_are_given_to_the_device(server_factory: ServerFactory) -> None:
    """`GET /devices/{id}/webrtc/ice-servers`: the console (and any device) gathers its offer's candidates
    with the STUN/TURN servers the server is configured with, TURN credentials included, never cached;
    the device's own token or an operator's, no other device's."""
    stun = IceServer(urls=("stun:192.0.2.10:3478",))
    turn = IceServer(urls=("turn:192.0.2.11:3478?transport=tcp",), username="relay", credential="s3cret")
    with server_factory(webrtc_ice_servers=(stun, turn)) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            _, other_token = await register(http)
            path = f"/devices/{device_id}/webrtc/ice-servers"
            for headers in ({"Authorization": f"Bearer {token}"}, live.operator_headers):
                response = await http.get(path, headers=headers)
                assert response.status_code == 200, response.text
                assert response.json() == {
                    "ice_servers": [
                        {"urls": ["stun:192.0.2.10:3478"]},
                        {
                            "urls": ["turn:192.0.2.11:3478?transport=tcp"],
                            "username": "relay",
                            "credential": "s3cret",
                        },
                    ]
                }
                assert "no-store" in response.headers["cache-control"]
            assert_error(
                await http.get(path, headers={"Authorization": f"Bearer {other_token}"}), 403, "FORBIDDEN"
            )
            assert_error(await http.get(path, headers={"Authorization": ""}), 401, "UNAUTHORIZED")
            assert_error(await http.get("/devices/dev_unknown/webrtc/ice-servers"), 404, "DEVICE_NOT_FOUND")


async def test_without_ice_servers_the_list_is_empty(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    response = await client.get(f"/devices/{device_id}/webrtc/ice-servers")
    assert response.status_code == 200, response.text
    assert response.json() == {"ice_servers": []}
