"""§8.8 end to end: the device WebSocket against the real app on a real socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import websockets

from tests.server.conftest import ServerFactory, connect, one_server_per_module, register
from tests.server.helpers import (
    assert_error,
    assert_nothing_pending,
    assert_ws_error,
    away_from_minute_boundary,
    close_code,
    device_state,
    poll,
    scripted_reply,
    wait_for_status,
)
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer

server = one_server_per_module()


@pytest.fixture
async def socket(server: LiveServer, device: tuple[str, str]) -> AsyncIterator[DeviceClient]:
    """The `device` fixture's device, connected."""
    connected = await connect(server, *device)
    yield connected
    await connected.close()


async def _open(server: LiveServer, device_id: str, **kwargs: Any) -> DeviceClient:
    return DeviceClient(
        await websockets.connect(f"{server.ws_url}/ws/{device_id}", open_timeout=10, **kwargs)
    )


# Authentication


async def test_auth_with_query_token(server: LiveServer, device: tuple[str, str]) -> None:
    device_id, token = device
    async with await DeviceClient.connect(server.ws_url, device_id, token) as socket:
        connected = await socket.receive()
    assert connected["type"] == "connected"
    assert connected["payload"]["device_id"] == device_id
    assert connected["payload"]["heartbeat_interval_s"] > 0


async def test_auth_with_bearer_header(server: LiveServer, device: tuple[str, str]) -> None:
    device_id, token = device
    headers = {"Authorization": f"Bearer {token}"}
    async with await _open(server, device_id, additional_headers=headers) as socket:
        connected = await socket.receive()
        assert connected["type"] == "connected"
        await socket.send("heartbeat", {})
        await socket.expect("heartbeat_ack")


async def test_auth_with_first_message(server: LiveServer, device: tuple[str, str]) -> None:
    device_id, token = device
    async with await _open(server, device_id) as socket:
        await socket.send("auth", {"token": token})
        connected = await socket.receive()
        assert connected["type"] == "connected"
        assert connected["payload"]["device_id"] == device_id


@pytest.mark.parametrize("how", ["query", "header", "first message"])
async def test_bad_token_gets_error_then_4401(server: LiveServer, device: tuple[str, str], how: str) -> None:
    device_id, _ = device
    bad = "not.a.token"
    if how == "query":
        socket = await DeviceClient.connect(server.ws_url, device_id, bad)
    elif how == "header":
        socket = await _open(server, device_id, additional_headers={"Authorization": f"Bearer {bad}"})
    else:
        socket = await _open(server, device_id)
        await socket.send("auth", {"token": bad})
    async with socket:
        body = assert_ws_error(await socket.receive(), "UNAUTHORIZED")
        assert body["details"] == {"reason": "malformed"}
        assert await close_code(socket) == 4401


async def test_first_message_must_be_auth(server: LiveServer, device: tuple[str, str]) -> None:
    async with await _open(server, device[0]) as socket:
        await socket.send("heartbeat", {})
        assert_ws_error(await socket.receive(), "UNAUTHORIZED")
        assert await close_code(socket) == 4401


async def test_another_devices_token_is_4403(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    _, other_token = await register(client)
    async with await DeviceClient.connect(server.ws_url, device_id, other_token) as socket:
        assert_ws_error(await socket.receive(), "FORBIDDEN")
        assert await close_code(socket) == 4403


async def test_operator_token_is_4403(server: LiveServer, device: tuple[str, str]) -> None:
    async with await DeviceClient.connect(server.ws_url, device[0], server.token()) as socket:
        assert_ws_error(await socket.receive(), "FORBIDDEN")
        assert await close_code(socket) == 4403


async def test_unknown_device_is_4404(server: LiveServer) -> None:
    token = server.token(role="device", subject="dev_nobody")
    async with await DeviceClient.connect(server.ws_url, "dev_nobody", token) as socket:
        body = assert_ws_error(await socket.receive(), "DEVICE_NOT_FOUND")
        assert body["details"] == {"device_id": "dev_nobody"}
        assert await close_code(socket) == 4404


# Presence and heartbeats


async def test_presence_follows_the_connection(
    server: LiveServer, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    assert (await device_state(client, device_id))["status"] == "offline"
    socket = await connect(server, *device)

    state = await device_state(client, device_id)
    assert state["status"] == "online"
    first_uptime = state["metrics"]["uptime_hours"]
    assert 0 <= first_uptime < 0.01
    await poll(lambda: device_state(client, device_id), lambda s: s["metrics"]["uptime_hours"] > first_uptime)

    await socket.send("heartbeat", {"status": "busy"})
    await socket.expect("heartbeat_ack")
    assert (await device_state(client, device_id))["status"] == "busy"
    await socket.send("heartbeat", {})
    await socket.expect("heartbeat_ack")
    assert (await device_state(client, device_id))["status"] == "online"

    await socket.close()
    offline = await wait_for_status(client, device_id, "offline")
    assert offline["metrics"]["uptime_hours"] == 0


async def test_reconnected_device_stays_online_when_its_old_socket_closes(
    server: LiveServer, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    """A device that reconnects (e.g. after a network blip) before its old socket is gone."""
    device_id, token = device
    old = await connect(server, device_id, token)
    new = await connect(server, device_id, token)
    await old.close()

    async with new:
        assert (await device_state(client, device_id))["status"] == "online"
        response = await client.post(
            f"/devices/{device_id}/persona/switch", json={"target_persona_id": "storyteller"}
        )
        assert response.status_code == 200, response.text
        assert (await new.expect("persona_switch"))["payload"]["persona_id"] == "storyteller"
    await wait_for_status(client, device_id, "offline")


async def test_a_newer_socket_closes_the_older_one(
    server: LiveServer, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    """One socket per device: commands cannot go to a stale connection the device forgot."""
    device_id, token = device
    old = await connect(server, device_id, token)
    new = await connect(server, device_id, token)
    assert await close_code(old) == 4409
    async with new:
        await new.send("heartbeat", {})
        await new.expect("heartbeat_ack")
        assert (await device_state(client, device_id))["status"] == "online"


async def test_a_silent_device_is_closed_and_offline(server_factory: ServerFactory) -> None:
    with server_factory(presence_ttl_s=0.3) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            socket = await connect(live, device_id, token)
            async with socket:
                assert await close_code(socket) == 4408
            await wait_for_status(http, device_id, "offline")


async def test_heartbeat_gets_ack(socket: DeviceClient) -> None:
    await socket.send("heartbeat", {}, timestamp="2026-01-19T10:30:00Z")
    ack = await socket.receive()
    assert ack["type"] == "heartbeat_ack"
    assert ack["payload"]["server_time"]
    assert ack["priority"] == 0


# Text turns


async def test_text_input_gets_audio_response(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    before = await device_state(client, device_id)
    assert before["metrics"]["interactions_today"] == 0
    assert before["metrics"]["avg_response_latency_ms"] is None

    await socket.send("text_input", {"text": "How are you?"})
    response = await socket.expect("audio_response")
    payload = response["payload"]
    assert payload["text"] == await scripted_reply(client, "companion", "how are you")
    assert payload["audio_url"] is None
    assert payload["final"] is True
    assert payload["persona_id"] == "companion"
    assert payload["session_id"].startswith("sess_")
    assert isinstance(payload["latency_ms"], int)
    assert payload["latency_ms"] >= 0

    after = await device_state(client, device_id)
    assert after["metrics"]["interactions_today"] == 1
    assert isinstance(after["metrics"]["avg_response_latency_ms"], int)
    assert after["metrics"]["avg_response_latency_ms"] >= 0
    assert after["active_session_id"] == payload["session_id"]
    assert after["active_persona_id"] == "companion"

    await socket.send("text_input", {"text": "Thanks", "session_id": payload["session_id"]})
    second = await socket.expect("audio_response")
    assert second["payload"]["session_id"] == payload["session_id"]
    assert (await device_state(client, device_id))["metrics"]["interactions_today"] == 2


# Malformed messages: each gets an error, and the connection stays usable.

MALFORMED: dict[str, tuple[str | bytes, str]] = {
    "not json": ("{nope", "INVALID_JSON"),
    "empty text frame": ("", "INVALID_JSON"),
    "json array": ("[1, 2]", "VALIDATION_ERROR"),
    "unknown type": ('{"type": "dance", "payload": {}}', "VALIDATION_ERROR"),
    "no type": ('{"payload": {"text": "hi"}}', "VALIDATION_ERROR"),
    "missing payload": ('{"type": "text_input"}', "VALIDATION_ERROR"),
    "wrong field type": ('{"type": "text_input", "payload": {"text": 42}}', "VALIDATION_ERROR"),
    "over-long text": (
        json.dumps({"type": "text_input", "payload": {"text": "a" * 4001}}),
        "VALIDATION_ERROR",
    ),
    "bad heartbeat status": ('{"type": "heartbeat", "payload": {"status": "sleepy"}}', "VALIDATION_ERROR"),
    "binary frame": (b"\x00\x01" * 160, "NOT_SUPPORTED"),
    "audio_stream": ('{"type": "audio_stream", "payload": {"audio_b64": "AAAA"}}', "NOT_SUPPORTED"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_malformed_message_gets_error_and_connection_stays(socket: DeviceClient, case: str) -> None:
    raw, code = MALFORMED[case]
    await socket.send_raw(raw)
    assert_ws_error(await socket.receive(), code)
    await socket.send("heartbeat", {})
    assert (await socket.receive())["type"] == "heartbeat_ack"


async def test_oversize_message_gets_error(server_factory: ServerFactory) -> None:
    limit = 256
    with server_factory(max_ws_message_bytes=limit) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
        socket = await connect(live, device_id, token)
        async with socket:
            # Within the limit in characters, past it in bytes: the limit is on bytes.
            for text in ("a" * limit, "é" * (limit // 2 + 10)):
                message = {"type": "text_input", "payload": {"text": text}}
                await socket.send_raw(json.dumps(message, ensure_ascii=False))
                body = assert_ws_error(await socket.receive(), "VALIDATION_ERROR")
                assert body["details"]["max_bytes"] == limit
                assert body["details"]["size"] > limit
            await socket.send_raw(b"\x00" * (limit + 1))
            assert_ws_error(await socket.receive(), "VALIDATION_ERROR")
            await socket.send("heartbeat", {})
            assert (await socket.receive())["type"] == "heartbeat_ack"


# Commands pushed down, and acks


async def _command(client: httpx.AsyncClient, device_id: str, command_id: str) -> dict[str, Any]:
    response = await client.get(f"/devices/{device_id}/commands/{command_id}")
    assert response.status_code == 200, response.text
    command: dict[str, Any] = response.json()
    return command


async def test_command_reaches_device_and_ack_is_recorded(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    led = {"color": "#00ff00", "pattern": "pulse"}
    response = await client.post(
        f"/devices/{device_id}/commands", json={"type": "led_control", "payload": led, "priority": 3}
    )
    assert response.status_code == 202, response.text
    sent = response.json()
    assert sent["acked"] is False
    command_id = sent["command_id"]

    message = await socket.expect("led_control")
    assert message == {"type": "led_control", "payload": {**led, "command_id": command_id}, "priority": 3}

    await socket.send("ack", {"command_id": command_id, "status": "done"})
    acked = await poll(lambda: _command(client, device_id, command_id), lambda c: c["acked"])
    assert acked["ack_payload"] == {"command_id": command_id, "status": "done"}
    assert acked["acked_at"] is not None
    assert acked["type"] == "led_control"
    assert acked["priority"] == 3


async def test_ack_without_command_id_acks_the_oldest_pending(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    response = await client.post(
        f"/devices/{device_id}/persona/switch", json={"target_persona_id": "medication_nurse"}
    )
    assert response.status_code == 200, response.text
    switch = await socket.expect("persona_switch")
    command_id = switch["payload"]["command_id"]

    spec_ack = {"switch_complete": True, "latency_ms": 1200}
    await socket.send("ack", spec_ack)
    acked = await poll(lambda: _command(client, device_id, command_id), lambda c: c["acked"])
    assert acked["ack_payload"] == spec_ack
    assert acked["type"] == "persona_switch"

    # Nothing is left to acknowledge now.
    await socket.send("ack", spec_ack)
    assert_ws_error(await socket.receive(), "VALIDATION_ERROR")


async def test_ack_of_unknown_command_is_an_error(socket: DeviceClient) -> None:
    await socket.send("ack", {"command_id": "cmd_unknown"})
    body = assert_ws_error(await socket.receive(), "VALIDATION_ERROR")
    assert body["details"] == {"command_id": "cmd_unknown"}


async def test_command_to_unconnected_device_is_503(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    response = await client.post(
        f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {}}
    )
    body = assert_error(response, 503, "DEVICE_OFFLINE")
    assert body["details"]["device_id"] == device_id


async def test_command_after_the_device_disconnected_is_503(
    server: LiveServer, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, token = device
    socket = await connect(server, device_id, token)
    await socket.close()
    await wait_for_status(client, device_id, "offline")
    response = await client.post(
        f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {}}
    )
    assert_error(response, 503, "DEVICE_OFFLINE")


# Persona switching


async def _session_turns(client: httpx.AsyncClient, session_id: str) -> int:
    response = await client.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    turns: int = response.json()["turns"]
    return turns


async def test_persona_switch_on_connected_device(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    await socket.send("text_input", {"text": "hello"})
    first = (await socket.expect("audio_response"))["payload"]
    assert first["persona_id"] == "companion"

    response = await client.post(
        f"/devices/{device_id}/persona/switch",
        json={"target_persona_id": "entertainer", "transition_message": "Time for a quiz!"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == {
        "success",
        "previous_persona_id",
        "new_persona_id",
        "switch_latency_ms",
        "session_id",
    }
    assert result["success"] is True
    assert result["previous_persona_id"] == "companion"
    assert result["new_persona_id"] == "entertainer"
    assert isinstance(result["switch_latency_ms"], int)
    assert result["switch_latency_ms"] >= 0
    assert result["session_id"] == first["session_id"]

    switch = await socket.expect("persona_switch")
    assert switch["priority"] > 0
    assert switch["payload"]["persona_id"] == "entertainer"
    assert switch["payload"]["transition_message"] == "Time for a quiz!"
    assert switch["payload"]["command_id"].startswith("cmd_")

    await socket.send("text_input", {"text": "quiz"})
    answer = (await socket.expect("audio_response"))["payload"]
    assert answer["persona_id"] == "entertainer"
    assert answer["text"] == await scripted_reply(client, "entertainer", "quiz")
    assert answer["session_id"] == first["session_id"]
    state = await device_state(client, device_id)
    assert state["active_persona_id"] == "entertainer"


@pytest.mark.parametrize(("preserve", "turns_after"), [(True, 2), (False, 0)])
async def test_switch_keeps_or_clears_context(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str], preserve: bool, turns_after: int
) -> None:
    device_id, _ = device
    await socket.send("text_input", {"text": "hello"})
    session_id = (await socket.expect("audio_response"))["payload"]["session_id"]
    assert await _session_turns(client, session_id) == 2

    response = await client.post(
        f"/devices/{device_id}/persona/switch",
        json={"target_persona_id": "storyteller", "preserve_context": preserve},
    )
    assert response.status_code == 200, response.text
    assert response.json()["session_id"] == session_id
    await socket.expect("persona_switch")
    assert await _session_turns(client, session_id) == turns_after


async def test_switch_to_unknown_persona_is_404(
    socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    response = await client.post(f"/devices/{device[0]}/persona/switch", json={"target_persona_id": "nobody"})
    body = assert_error(response, 404, "PERSONA_NOT_FOUND")
    assert body["details"] == {"requested_id": "nobody"}
    await assert_nothing_pending(socket)


async def test_switch_on_offline_device_is_503(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    response = await client.post(
        f"/devices/{device_id}/persona/switch", json={"target_persona_id": "storyteller"}
    )
    assert_error(response, 503, "DEVICE_OFFLINE")
    # Nothing changed: the device would still answer with the default persona.
    assert (await device_state(client, device_id))["active_persona_id"] == "companion"


# Deregistration and limits


async def test_deregistering_closes_the_socket_and_revokes_the_token(
    server: LiveServer, socket: DeviceClient, client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, token = device
    response = await client.delete(f"/devices/{device_id}")
    assert response.status_code == 204, response.text
    assert await close_code(socket) == 4410

    async with httpx.AsyncClient(base_url=server.api_url) as http:
        refused = await http.get(f"/devices/{device_id}/state", headers={"Authorization": f"Bearer {token}"})
    body = assert_error(refused, 401, "UNAUTHORIZED")
    assert body["details"] == {"reason": "revoked"}
    async with await DeviceClient.connect(server.ws_url, device_id, token) as again:
        assert_ws_error(await again.receive(), "UNAUTHORIZED")
        assert await close_code(again) == 4401


async def test_dialog_turns_are_rate_limited(server_factory: ServerFactory) -> None:
    with server_factory(dialog_turns_per_minute=2) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
            async with await connect(live, device_id, token) as socket:
                await away_from_minute_boundary()
                for _ in range(2):
                    await socket.send("text_input", {"text": "hello"})
                    await socket.expect("audio_response")
                await socket.send("text_input", {"text": "hello"})
                body = assert_ws_error(await socket.receive(), "RATE_LIMITED")
                assert 1 <= body["details"]["retry_after_s"] <= 60
                assert body["details"]["limit_per_minute"] == 2
                await socket.send("heartbeat", {})
                assert (await socket.receive())["type"] == "heartbeat_ack"
            assert (await device_state(http, device_id))["metrics"]["interactions_today"] == 2
