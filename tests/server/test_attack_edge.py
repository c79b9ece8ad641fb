"""Hostile input at the edges (issue 12): never a 500 or a dropped socket, and nothing leaked.

Each test sends what an attacker without (or with only their own) token can send, to the real app
on a real socket: malformed pre-signed audio URLs, JSON nested past the recursion limit in a body
or a WebSocket frame, another device's session ids, and a forged `Host` header.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, assert_ws_error
from tests.support.live_server import LiveServer, live_server, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(make_settings(tmp_path_factory.mktemp("state"))) as live:
        yield live


@pytest.fixture
async def anonymous(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.api_url, timeout=10) as http:
        yield http


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# Pre-signed audio URLs: whatever the query holds, 403 AUDIO_URL_INVALID, never a server fault

SIG = "0" * 64
MALFORMED_AUDIO_QUERIES = {
    "superscript digit as expires": {"expires": "²", "sig": SIG},
    "arabic-indic digits as expires": {"expires": "٣٤٥", "sig": SIG},
    "5000-digit expires": {"expires": "9" * 5000, "sig": SIG},
    "non-ASCII sig": {"expires": "9999999999", "sig": "é" * 64},
    "short sig": {"expires": "9999999999", "sig": "abc"},
}


@pytest.mark.parametrize("case", sorted(MALFORMED_AUDIO_QUERIES))
async def test_a_malformed_audio_url_is_refused_not_a_server_fault(
    anonymous: httpx.AsyncClient, case: str
) -> None:
    response = await anonymous.get("/audio/blob_abc", params=MALFORMED_AUDIO_QUERIES[case])
    body = assert_error(response, 403, "AUDIO_URL_INVALID")
    assert body["details"] == {"blob_id": "blob_abc"}


# JSON nested past the recursion limit

NESTED_BODIES: dict[str, tuple[str, Callable[[str], str]]] = {
    "POST /devices": (
        "/devices",
        lambda deep: f'{{"name": "x", "device_type": "custom", "location": {deep}}}',
    ),
    "POST /sessions": (
        "/sessions",
        lambda deep: f'{{"device_id": "d", "persona_id": "p", "metadata": {{"a": {deep}}}}}',
    ),
    "POST /dialog/send": ("/dialog/send", lambda deep: f'{{"device_id": "d", "message": {deep}}}'),
    "POST /coordination/broadcast": (
        "/coordination/broadcast",
        lambda deep: f'{{"event_type": "e", "target_devices": ["all"], "payload": {{"x": {deep}}}}}',
    ),
    "a bare array": ("/devices", lambda deep: deep),
}


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
@pytest.mark.parametrize("case", sorted(NESTED_BODIES))
async def test_a_deeply_nested_body_is_400(client: httpx.AsyncClient, case: str, depth: int) -> None:
    path, body = NESTED_BODIES[case]
    response = await client.post(
        path, content=body(_nested(depth)), headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 400, "INVALID_JSON")
    assert error["details"] == {"reason": "nested too deeply", "max_depth": 64}


async def test_nesting_within_the_limit_is_answered_as_a_shallow_body(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)

    async def broadcast(depth: int) -> httpx.Response:
        payload: Any = "leaf"
        for _ in range(depth - 1):  # the body itself is the first level
            payload = {"k": payload}
        body = {"event_type": "e", "target_devices": [device_id], "payload": payload}
        return await client.post("/coordination/broadcast", json=body)

    shallow, deepest_taken, too_deep = await broadcast(2), await broadcast(64), await broadcast(65)
    assert deepest_taken.status_code == shallow.status_code != 400, deepest_taken.text
    assert_error(too_deep, 400, "INVALID_JSON")


@pytest.mark.parametrize("depth", [100, 1_000, 100_000])
@pytest.mark.parametrize(
    "frame",
    [
        lambda deep: f'{{"type": "ack", "payload": {{"a": {deep}}}}}',
        lambda deep: f'{{"payload": {{"a": {deep}}}, "type": "ack"}}',
        lambda deep: f'{{"type": "heartbeat", "payload": {{"status": {deep}}}}}',
        lambda deep: deep,
    ],
    ids=["ack payload", "tag after payload", "typed field", "bare array"],
)
async def test_a_deeply_nested_frame_gets_an_error_and_the_socket_stays(
    server: LiveServer, client: httpx.AsyncClient, frame: Any, depth: int
) -> None:
    device_id, token = await register(client)
    async with await connect(server, device_id, token) as socket:
        await socket.send_raw(frame(_nested(depth)))
        reply = await socket.receive()
        assert reply["type"] == "error", reply
        assert reply["payload"]["error_code"] in {"INVALID_JSON", "VALIDATION_ERROR"}
        assert_ws_error(reply, reply["payload"]["error_code"])
        await socket.send("heartbeat", {})
        assert (await socket.receive())["type"] == "heartbeat_ack"


# Another device's sessions: the same answer as for none, and no device named


async def _session_of(client: httpx.AsyncClient, device_id: str) -> str:
    response = await client.post("/sessions", json={"device_id": device_id, "persona_id": "companion"})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


def _same_answer(theirs: httpx.Response, nobodys: httpx.Response, *, theirs_id: str) -> None:
    """Another device's session answered exactly as a session that never was (ids aside)."""
    a = assert_error(theirs, 404, "SESSION_NOT_FOUND")
    b = assert_error(nobodys, 404, "SESSION_NOT_FOUND")
    assert a["message"].replace(theirs_id, "?") == b["message"].replace("sess_nothing", "?")
    assert a["details"] == {"session_id": theirs_id}
    assert b["details"] == {"session_id": "sess_nothing"}


async def test_a_device_cannot_tell_another_devices_session_from_none(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, token = await register(client)
    other_id, _ = await register(client)
    theirs = await _session_of(client, other_id)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers, timeout=10) as own:
        for method, suffix in (("GET", ""), ("GET", "/context"), ("DELETE", "")):
            _same_answer(
                await own.request(method, f"/sessions/{theirs}{suffix}"),
                await own.request(method, f"/sessions/sess_nothing{suffix}"),
                theirs_id=theirs,
            )
        for named in (theirs, "sess_nothing"):
            turn = {"device_id": device_id, "session_id": named, "message": "Hello"}
            assert_error(await own.post("/dialog/send", json=turn), 404, "SESSION_NOT_FOUND")
            handoff = {"from_device_id": device_id, "to_device_id": other_id}
            response = await own.post(f"/sessions/{named}/handoff", json=handoff)
            assert assert_error(response, 404, "SESSION_NOT_FOUND")["details"] == {"session_id": named}
    # Nothing happened to the other device's session.
    kept = (await client.get(f"/sessions/{theirs}")).json()
    assert (kept["status"], kept["device_id"], kept["turns"]) == ("active", other_id, 0)


async def test_a_device_cannot_tell_another_devices_session_from_none_over_its_socket(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, token = await register(client)
    other_id, _ = await register(client)
    theirs = await _session_of(client, other_id)
    async with await connect(server, device_id, token) as socket:
        answers = []
        for named in (theirs, "sess_nothing"):
            await socket.send("text_input", {"text": "Hello", "session_id": named})
            answers.append(assert_ws_error(await socket.expect("error"), "SESSION_NOT_FOUND"))
    assert answers[0]["message"].replace(theirs, "?") == answers[1]["message"].replace("sess_nothing", "?")


async def test_a_handoff_conflict_does_not_name_the_device_holding_the_session(
    client: httpx.AsyncClient,
) -> None:
    bedroom, _ = await register(client)
    kitchen, _ = await register(client)
    hallway, _ = await register(client)
    session_id = await _session_of(client, bedroom)
    response = await client.post(
        f"/sessions/{session_id}/handoff", json={"from_device_id": hallway, "to_device_id": kitchen}
    )
    body = assert_error(response, 409, "CONFLICT")
    assert bedroom not in response.text
    assert body["details"] == {"session_id": session_id, "from_device_id": hallway}


# websocket_url: never from the request's Host header


@pytest.mark.parametrize("host", ["evil.example", "evil.example:443", "127.0.0.1:1"])
async def test_the_websocket_url_ignores_the_host_header(
    server: LiveServer, client: httpx.AsyncClient, host: str
) -> None:
    body = {"name": "hall", "device_type": "custom"}
    response = await client.post("/devices", json=body, headers={"Host": host})
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["websocket_url"] == f"{server.ws_url}/ws/{data['device_id']}"


def test_nested_body_cases_are_json_when_shallow() -> None:
    """The cases above differ from valid JSON only in their depth."""
    for _, body in NESTED_BODIES.values():
        json.loads(body(_nested(3)))
