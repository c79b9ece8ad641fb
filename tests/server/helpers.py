"""Small helpers for the end-to-end tests: spec error bodies, bounded polling, socket probes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
from websockets.exceptions import ConnectionClosed

from tests.support.device_client import DeviceClient

T = TypeVar("T")

ERROR_FIELDS = {"error_code", "message", "details", "request_id"}
POLL_TIMEOUT_S = 5.0


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The spec's error body (§8.9) with `code`, under `status`; returns the body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == ERROR_FIELDS, body
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def assert_ws_error(message: dict[str, Any], code: str) -> dict[str, Any]:
    """An `error` WebSocket message whose payload is the spec's error body with `code`."""
    assert message["type"] == "error", message
    body: dict[str, Any] = message["payload"]
    assert set(body) == ERROR_FIELDS, body
    assert body["error_code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["details"], dict)
    assert isinstance(body["request_id"], str)
    assert body["request_id"].startswith("req_")
    return body


async def poll(
    fetch: Callable[[], Awaitable[T]], until: Callable[[T], bool], *, within: float = POLL_TIMEOUT_S
) -> T:
    """Call `fetch` until `until(result)` holds; fails after `within` seconds with the last result."""
    deadline = time.monotonic() + within
    while True:
        result = await fetch()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s; last: {result!r}")
        await asyncio.sleep(0.02)


async def device_state(http: httpx.AsyncClient, device_id: str) -> dict[str, Any]:
    response = await http.get(f"/devices/{device_id}/state")
    assert response.status_code == 200, response.text
    state: dict[str, Any] = response.json()
    return state


async def wait_for_status(http: httpx.AsyncClient, device_id: str, status: str) -> dict[str, Any]:
    return await poll(lambda: device_state(http, device_id), lambda s: s["status"] == status)


async def close_code(socket: DeviceClient, *, within: float = POLL_TIMEOUT_S) -> int:
    """Read until the server closes the socket; the close code it sent."""
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionClosed):
            while True:
                await socket.receive(within)
    received = socket.connection.protocol.close_rcvd
    assert received is not None, "the socket closed without a close frame"
    return int(received.code)


async def assert_nothing_pending(socket: DeviceClient) -> None:
    """Nothing was queued for the device: a heartbeat's ack is the very next message it gets.

    The server sends in priority order, so anything queued before the heartbeat
    (commands and events all have priority >= 0) would come first.
    """
    await socket.send("heartbeat", {})
    message = await socket.receive()
    assert message["type"] == "heartbeat_ack", message


async def away_from_minute_boundary(margin_s: float = 3.0) -> None:
    """Rate limits count in fixed wall-clock minutes: start a limit test well inside one."""
    into_minute = time.time() % 60
    if into_minute > 60 - margin_s:
        await asyncio.sleep(60 - into_minute + 0.05)


async def scripted_reply(http: httpx.AsyncClient, persona_id: str, keyword: str) -> str:
    """What the persona's offline script answers to a message that is just `keyword`.

    Read from the persona's own file through `GET /personas/{id}`, so the tests
    follow the library as it is edited.
    """
    response = await http.get(f"/personas/{persona_id}")
    assert response.status_code == 200, response.text
    persona = response.json()
    for rule in persona["behavior_config"]["offline_script"]["rules"]:
        if keyword in rule["keywords"]:
            return str(rule["reply"]).replace("{name}", persona["name"])
    raise AssertionError(f"persona {persona_id} has no offline rule for {keyword!r}")
