"""Two server instances sharing one real redis-server: state, commands and limits hold across them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, poll
from tests.support.live_server import LiveServer

Pair = tuple[LiveServer, LiveServer]


@pytest.fixture
def pair(server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str) -> Iterator[Pair]:
    """Instances A and B on one Redis, under a key prefix of their own."""
    prefix = f"t{secrets.token_hex(4)}:"
    with ExitStack() as stack:
        a = stack.enter_context(
            server_factory(redis_url=redis_url, redis_key_prefix=prefix, device_requests_per_minute=4)
        )
        b = stack.enter_context(
            server_factory(redis_url=redis_url, redis_key_prefix=prefix, device_requests_per_minute=4)
        )
        yield a, b


async def test_health_reports_the_redis_backend(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient() as http:
        ha = (await http.get(f"{a.api_url}/health")).json()
        hb = (await http.get(f"{b.api_url}/health")).json()
    assert ha["store_backend"] == hb["store_backend"] == "redis"
    assert ha["store_ok"]
    assert hb["store_ok"]
    assert ha["instance_id"] != hb["instance_id"]


async def test_a_device_registered_on_one_is_known_to_the_other(pair: Pair) -> None:
    a, b = pair
    async with (
        httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a,
        httpx.AsyncClient(base_url=b.api_url, headers=b.operator_headers) as on_b,
    ):
        device_id, _ = await register(on_a, group_id="ward-7")
        assert (await on_b.get(f"/devices/{device_id}")).json()["group_id"] == "ward-7"
        reply = await on_b.post("/dialog/send", json={"device_id": device_id, "message": "Hello"})
        session_id = reply.json()["session_id"]
        again = await on_a.post(
            "/dialog/send", json={"device_id": device_id, "message": "And again", "session_id": session_id}
        )
        assert again.status_code == 200
        assert (await on_b.get(f"/sessions/{session_id}")).json()["turns"] == 4
        state = (await on_a.get(f"/devices/{device_id}/state")).json()
        assert state["metrics"]["interactions_today"] == 2


async def test_commands_reach_a_device_connected_to_the_other_instance(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=b.api_url, headers=b.operator_headers) as on_b:
        device_id, token = await register(on_b)
        socket = await connect(a, device_id, token)
        async with socket:
            state = (await on_b.get(f"/devices/{device_id}/state")).json()
            assert state["status"] == "online"
            sent = await on_b.post(
                f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {"color": "blue"}}
            )
            assert sent.status_code == 202
            command = await socket.expect("led_control")
            assert command["payload"]["color"] == "blue"
            switched = await on_b.post(
                f"/devices/{device_id}/persona/switch", json={"target_persona_id": "storyteller"}
            )
            assert switched.status_code == 200, switched.text
            switch = await socket.expect("persona_switch")
            assert switch["payload"]["persona_id"] == "storyteller"
            await socket.send("ack", {"command_id": switch["payload"]["command_id"], "switch_complete": True})
            await socket.send("heartbeat", {})
            await socket.expect("heartbeat_ack")
            seen = (await on_b.get(f"/devices/{device_id}/commands/{switch['payload']['command_id']}")).json()
            assert seen["acked"] is True
        # Once the device is gone, both instances say so.
        await poll(lambda: on_b.get(f"/devices/{device_id}/state"), lambda r: r.json()["status"] == "offline")
        for live in pair:
            async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
                response = await http.post(
                    f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {}}
                )
                assert_error(response, 503, "DEVICE_OFFLINE")


async def test_deregistering_on_one_instance_closes_the_socket_on_the_other(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=b.api_url, headers=b.operator_headers) as on_b:
        device_id, token = await register(on_b)
        socket = await connect(a, device_id, token)
        assert (await on_b.delete(f"/devices/{device_id}")).status_code == 204
        await socket.connection.wait_closed()
        assert socket.connection.close_code == 4410


async def test_reconnecting_to_another_instance_closes_the_old_socket(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a:
        device_id, token = await register(on_a)
        old = await connect(a, device_id, token)
        new = await connect(b, device_id, token)
        await old.connection.wait_closed()
        assert old.connection.close_code == 4409
        async with new:
            sent = await on_a.post(
                f"/devices/{device_id}/commands", json={"type": "led_control", "payload": {}}
            )
            assert sent.status_code == 202
            await new.expect("led_control")


async def test_rate_limit_is_shared_by_both_instances(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a:
        device_id, token = await register(on_a)
    device = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(headers=device) as http:
        statuses = [
            (await http.get(f"{live.api_url}/devices/{device_id}/state")).status_code
            for live in (a, b, a, b, a)
        ]
    # The limit is 4 per minute per device token, counted once across instances (the window may
    # roll over between requests, which only ever resets the count, so at most one extra request passes).
    assert statuses[:4] == [200, 200, 200, 200] or statuses.count(429) == 0
    assert statuses[4] == 429 or statuses.count(200) == 5


async def test_a_token_revoked_on_one_instance_is_refused_by_the_other(pair: Pair) -> None:
    a, b = pair
    async with httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a:
        device_id, old = await register(on_a)
        assert (await on_a.post(f"/devices/{device_id}/token")).status_code == 200
    async with httpx.AsyncClient(base_url=b.api_url, headers={"Authorization": f"Bearer {old}"}) as on_b:
        body = assert_error(await on_b.get(f"/devices/{device_id}/state"), 401, "UNAUTHORIZED")
    assert body["details"] == {"reason": "revoked"}
