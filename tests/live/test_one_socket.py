"""One device, one socket: the same device connecting twice at the same moment, to one instance or
to two sharing a real redis-server, keeps exactly one socket open (the newest claim); the other is
closed with 4409 and commands reach only the one left."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from tests.server.helpers import poll
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer, live_server, make_settings

TRIALS = 20
CLOSE_REPLACED = 4409
WAIT_S = 10.0

Setup = tuple[LiveServer, LiveServer]


@pytest.fixture(params=["memory, one instance", "redis, one instance", "redis, two instances"])
def instances(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Setup]:
    """Where the two sockets connect: (first, second)."""
    with ExitStack() as stack:
        if request.param.startswith("memory"):
            one = stack.enter_context(live_server(make_settings(tmp_path / "a")))
            yield one, one
            return
        shared = {
            "redis_url": request.getfixturevalue("redis_url"),
            "redis_key_prefix": f"t{secrets.token_hex(4)}:",
        }
        first = stack.enter_context(live_server(make_settings(tmp_path / "a", **shared)))
        second = first
        if request.param.endswith("two instances"):
            second = stack.enter_context(live_server(make_settings(tmp_path / "b", **shared)))
        yield first, second


async def register(live: LiveServer) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
        response = await http.post("/devices", json={"name": "bedside", "device_type": "raspberry_pi"})
        assert response.status_code == 201, response.text
        body = response.json()
        return body["device_id"], body["auth_token"]


async def closed_with(socket: DeviceClient) -> int | None:
    """Read until the server closes the socket; its close code."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await socket.receive(WAIT_S * 2)
    received = socket.connection.protocol.close_rcvd
    return None if received is None else received.code


async def test_two_sockets_of_one_device_at_the_same_moment_leave_one(instances: Setup) -> None:
    first, second = instances
    device_id, token = await register(first)
    async with httpx.AsyncClient(base_url=first.api_url, headers=first.operator_headers) as ops:
        for trial in range(TRIALS):
            sockets = await asyncio.gather(
                DeviceClient.connect(first.ws_url, device_id, token),
                DeviceClient.connect(second.ws_url, device_id, token),
            )
            closes = [asyncio.create_task(closed_with(s)) for s in sockets]
            done, _ = await asyncio.wait(closes, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED)
            assert done, f"trial {trial}: both sockets of the device stayed open"
            loser = closes.index(done.pop())
            winner = sockets[1 - loser]
            assert closes[loser].result() == CLOSE_REPLACED, f"trial {trial}"
            closes[1 - loser].cancel()  # read the socket left from here on (a cancelled recv loses nothing)
            with contextlib.suppress(asyncio.CancelledError):
                await closes[1 - loser]
            # The one left is open and is the one commands reach.
            await winner.send("heartbeat", {})
            await winner.expect("heartbeat_ack")
            sent = await ops.post(
                f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {"color": "green"}}
            )
            assert sent.status_code == 202, sent.text
            command = await winner.expect("led_control")
            assert command["payload"]["color"] == "green"
            await winner.close()
            await wait_offline(ops, device_id)


async def wait_offline(ops: httpx.AsyncClient, device_id: str) -> None:
    """The next trial starts from a device without a socket."""
    await poll(lambda: ops.get(f"/devices/{device_id}/state"), lambda r: r.json()["status"] == "offline")
