"""What a REST read costs the shared Redis: every command the server sends is watched with MONITOR on
the real redis-server, and those that touch one device's keys are counted."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager

import httpx
from redis.asyncio import Redis

from tests.server.conftest import register
from tests.support.live_server import LiveServer


async def commands_naming(redis_url: str, name: str, request: Callable[[], Awaitable[object]]) -> list[str]:
    """The commands clients sent Redis (not those a script ran) that name `name`, while `request` ran."""
    marker = f"end-{secrets.token_hex(4)}"
    client = Redis.from_url(redis_url)
    try:
        async with client.monitor() as monitor:
            await request()
            await client.echo(marker)  # MONITOR lists commands in the order Redis ran them
            seen = []
            while marker not in (command := await monitor.next_command())["command"]:
                if command["client_type"] != "lua" and name in command["command"]:
                    seen.append(command["command"])
            return seen
    finally:
        await client.aclose()


async def test_device_state_is_read_in_one_round_trip(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str
) -> None:
    """Device, runtime, presence and the day's metrics in one command (a Lua script), not one each."""
    with server_factory(redis_url=redis_url, redis_key_prefix=f"t{secrets.token_hex(4)}:") as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, _ = await register(http)
            assert (await http.get(f"/devices/{device_id}/state")).status_code == 200  # the script loaded

            async def read_state() -> None:
                response = await http.get(f"/devices/{device_id}/state")
                assert response.status_code == 200
                assert response.json()["device_id"] == device_id

            sent = await commands_naming(redis_url, device_id, read_state)
    assert len(sent) == 1, sent


async def test_a_device_tokens_check_and_rate_limit_hit_are_one_command(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str
) -> None:
    """A device token's standing (its device holds its jti) and the request's rate-limit hit are one
    script: with the state read, two commands per request name the device (four before: the device
    read, the counter's INCR and EXPIRE, the state read)."""
    with server_factory(redis_url=redis_url, redis_key_prefix=f"t{secrets.token_hex(4)}:") as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            device_id, token = await register(http)
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=live.api_url, headers=headers) as device:
            assert (await device.get(f"/devices/{device_id}/state")).status_code == 200  # scripts loaded

            async def read_state() -> None:
                response = await device.get(f"/devices/{device_id}/state")
                assert response.status_code == 200

            sent = await commands_naming(redis_url, device_id, read_state)
    assert len(sent) == 2, sent
    assert all(command.startswith("EVALSHA") for command in sent), sent
