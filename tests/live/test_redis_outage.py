"""Redis killed and started again under a running server: it degrades, it does not die.

A real redis-server (its data kept on disk, as in production) is killed with SIGKILL while the
real app serves REST and device sockets, then started again on the same port.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, assert_ws_error, poll
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer, live_server, make_settings
from tests.support.redis_server import RestartableRedis

WITHIN_S = 20.0
"""How long the server may take to notice Redis is back (redis-py reconnects on the next call)."""


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RestartableRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def live(tmp_path: Path, redis: RestartableRedis) -> Iterator[LiveServer]:
    with live_server(make_settings(tmp_path, redis_url=redis.url, presence_ttl_s=3.0)) as server:
        yield server


@pytest.fixture
async def http(live: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers, timeout=15) as client:
        yield client


async def _store_back(http: httpx.AsyncClient) -> None:
    await poll(lambda: http.get("/devices"), lambda r: r.status_code == 200, within=WITHIN_S)


async def test_rest_answers_503_store_unavailable_and_health_says_degraded(
    live: LiveServer, redis: RestartableRedis, http: httpx.AsyncClient
) -> None:
    device_id, _ = await register(http)
    redis.kill()

    for response in (
        await http.get("/devices"),
        await http.get(f"/devices/{device_id}/state"),
        await http.post(f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {}}),
        await http.post("/dialog/send", json={"device_id": device_id, "message": "Hello"}),
    ):
        body = assert_error(response, 503, "STORE_UNAVAILABLE")
        assert int(response.headers["retry-after"]) == body["details"]["retry_after_s"] > 0

    health = await http.get("/health")
    assert health.status_code == 200  # the instance is alive and its devices still talk (README)
    assert health.json()["status"] == "degraded"
    assert health.json()["store_ok"] is False

    redis.start()
    await _store_back(http)
    assert (await http.get(f"/devices/{device_id}")).status_code == 200  # nothing was lost on disk
    assert (await http.get("/health")).json()["status"] == "ok"


async def test_a_live_socket_stays_open_through_the_outage_and_its_presence_catches_up(
    live: LiveServer, redis: RestartableRedis, http: httpx.AsyncClient
) -> None:
    device_id, token = await register(http)
    async with await connect(live, device_id, token) as socket:
        redis.kill()
        await socket.send("heartbeat", {})
        await socket.expect("heartbeat_ack")  # still open, still answered
        # Without voice models a typed turn needs the store: refused, and the socket stays open.
        await socket.send("text_input", {"text": "Hello"})
        assert_ws_error(await socket.expect("error"), "STORE_UNAVAILABLE")
        # Outlive the presence's TTL (3 s) while the device keeps talking: its presence key expires.
        for _ in range(4):
            await socket.send("heartbeat", {})
            await socket.expect("heartbeat_ack")
            await asyncio.sleep(1.0)

        redis.start()
        await _store_back(http)

        async def state() -> str:
            await socket.send("heartbeat", {})
            await socket.expect("heartbeat_ack")
            response = await http.get(f"/devices/{device_id}/state")
            return str(response.json()["status"])

        assert await poll(state, lambda status: status == "online", within=WITHIN_S) == "online"

        async def command() -> httpx.Response:
            return await http.post(
                f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {"color": "blue"}}
            )

        # Until the bus's subscriber has reconnected (within a second), a command is refused as
        # DEVICE_OFFLINE: reported, not lost. Then it reaches the device.
        sent = await poll(command, lambda r: r.status_code != 503, within=WITHIN_S)
        assert sent.status_code == 202, sent.text
        assert (await socket.expect("led_control"))["payload"]["color"] == "blue"


async def test_a_socket_that_dies_in_the_outage_is_cleaned_up_and_commands_to_it_fail(
    live: LiveServer, redis: RestartableRedis, http: httpx.AsyncClient
) -> None:
    device_id, token = await register(http)
    other_id, other_token = await register(http)
    socket = await connect(live, device_id, token)
    other = await connect(live, other_id, other_token)  # lives through the outage
    keep_alive = asyncio.create_task(_heartbeats(other))
    try:
        assert (await http.get("/health")).json()["connected_devices"] == 2
        redis.kill()
        await socket.close()

        async def connected() -> int:
            return int((await http.get("/health")).json()["connected_devices"])

        assert await poll(connected, lambda n: n == 1, within=WITHIN_S) == 1

        redis.start()
        await _store_back(http)

        async def command_to(target: str) -> httpx.Response:
            return await http.post(f"/devices/{target}/commands", json={"type": "led_control", "payload": {}})

        # Once the bus's subscriber has reconnected (the live device is reached again)...
        reached = await poll(lambda: command_to(other_id), lambda r: r.status_code != 503, within=WITHIN_S)
        assert reached.status_code == 202, reached.text
        await other.expect("led_control")
        # ...the dead socket's subscription was not renewed: a command to it is refused, not lost with a 202.
        assert_error(await command_to(device_id), 503, "DEVICE_OFFLINE")

        async def status() -> str:
            return str((await http.get(f"/devices/{device_id}/state")).json()["status"])

        # Its presence is cleared once the store is back (not left to show it online until its TTL).
        assert await poll(status, lambda s: s == "offline", within=WITHIN_S) == "offline"
        async with await connect(live, device_id, token) as again:  # and the device connects again
            sent = await command_to(device_id)
            assert sent.status_code == 202, sent.text
            await again.expect("led_control")
    finally:
        keep_alive.cancel()
        await other.close()


async def _heartbeats(device: DeviceClient) -> None:
    """Keep a socket alive (its idle timeout is the presence TTL, 3 s here)."""
    while True:
        await device.send("heartbeat", {})
        await asyncio.sleep(0.5)
