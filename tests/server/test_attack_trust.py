"""Issue 12, trust: revocation holds (rotation closes the socket at once; a store that lost its data
never revives a token), Redis persistence is checked at start-up, and a device's handoff cannot plant
a session in another device's loop. The attacker holds one device's token and nothing more."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from server.state.persistence import RedisPersistenceError, check_redis_persistence
from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, assert_ws_error, close_code, poll
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer, free_port

ServerFactory = Callable[..., AbstractContextManager[LiveServer]]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refused(live: LiveServer, token: str) -> dict[str, Any]:
    """The 401 body a device token gets on an endpoint any valid token reaches (the persona library)."""
    async with httpx.AsyncClient(base_url=live.api_url, headers=bearer(token)) as http:
        return assert_error(await http.get("/personas"), 401, "UNAUTHORIZED")


# Rotation closes the socket opened with the old token


async def test_rotating_a_token_closes_the_socket_opened_with_the_old_one(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, old = await register(client)
    socket = await connect(server, device_id, old)
    rotated = await client.post(f"/devices/{device_id}/token")
    assert rotated.status_code == 200, rotated.text
    assert await close_code(socket) == 4401
    new = rotated.json()["auth_token"]
    async with await connect(server, device_id, new) as again:
        await again.send("heartbeat", {})
        await again.expect("heartbeat_ack")
    async with await DeviceClient.connect(server.ws_url, device_id, old) as stale:
        assert_ws_error(await stale.receive(), "UNAUTHORIZED")
        assert await close_code(stale) == 4401


async def test_rotating_on_one_instance_closes_the_socket_on_the_other(
    server_factory: ServerFactory, redis_url: str
) -> None:
    shared = {"redis_url": redis_url, "redis_key_prefix": f"t{time.monotonic_ns()}:"}
    with server_factory(**shared) as a, server_factory(**shared) as b:
        async with httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a:
            device_id, old = await register(on_a)
            socket = await connect(b, device_id, old)
            assert (await on_a.post(f"/devices/{device_id}/token")).status_code == 200
            assert await close_code(socket) == 4401
            assert (await refused(b, old))["details"] == {"reason": "revoked"}


# A store that lost its data never revives a token


async def test_a_restarted_in_memory_server_accepts_no_token_from_before(
    server_factory: ServerFactory,
) -> None:
    with server_factory() as before:
        async with httpx.AsyncClient(base_url=before.api_url, headers=before.operator_headers) as ops:
            kept_id, rotated_away = await register(ops)
            assert (await ops.post(f"/devices/{kept_id}/token")).status_code == 200
            gone_id, deregistered = await register(ops)
            assert (await ops.delete(f"/devices/{gone_id}")).status_code == 204
    with server_factory() as after:  # the same secret: every token still carries a valid signature
        for token in (rotated_away, deregistered):
            assert (await refused(after, token))["details"] == {"reason": "unknown_device"}
        async with await DeviceClient.connect(after.ws_url, kept_id, rotated_away) as socket:
            assert_ws_error(await socket.receive(), "DEVICE_NOT_FOUND")
            assert await close_code(socket) == 4404


class EphemeralRedis:
    """A redis-server that keeps nothing on disk, killed and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (scripts/install-system-packages.sh)"
        self._command = [binary, "--port", str(free_port()), "--bind", "127.0.0.1", "--save", ""]
        self._command += ["--appendonly", "no", "--dir", str(workdir)]
        self.url = f"redis://127.0.0.1:{self._command[2]}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(self._command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    if client.ping():
                        return
                except redis.ConnectionError:
                    if time.monotonic() > deadline or self._process.poll() is not None:
                        raise
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None


@pytest.fixture
def ephemeral_redis(tmp_path: Path) -> Iterator[EphemeralRedis]:
    server = EphemeralRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def test_tokens_stay_refused_after_redis_restarts_without_persistence(
    server_factory: ServerFactory, ephemeral_redis: EphemeralRedis
) -> None:
    with server_factory(redis_url=ephemeral_redis.url, redis_require_persistence="none") as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as ops:
            kept_id, rotated_away = await register(ops)
            assert (await ops.post(f"/devices/{kept_id}/token")).status_code == 200
            gone_id, deregistered = await register(ops)
            assert (await ops.delete(f"/devices/{gone_id}")).status_code == 204
            for token in (rotated_away, deregistered):
                assert (await refused(live, token))["details"] == {"reason": "revoked"}

            ephemeral_redis.kill()  # everything it held is gone, the revocations with it
            ephemeral_redis.start()
            await poll(lambda: ops.get("/devices"), lambda r: r.status_code == 200)
            for token in (rotated_away, deregistered):
                assert (await refused(live, token))["details"] == {"reason": "unknown_device"}


# Redis persistence, checked at start-up


# uvicorn ends its thread with SystemExit when the app's start-up fails: that is the refusal.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
async def test_start_up_refuses_a_redis_that_keeps_nothing(
    server_factory: ServerFactory, ephemeral_redis: EphemeralRedis
) -> None:
    with pytest.raises(RedisPersistenceError, match="appendonly yes"):
        await check_redis_persistence(ephemeral_redis.url, "aof")
    with pytest.raises(RedisPersistenceError, match="AOF or RDB"):
        await check_redis_persistence(ephemeral_redis.url, "any")
    with (
        pytest.raises(RuntimeError, match="did not start"),
        server_factory(redis_url=ephemeral_redis.url, redis_require_persistence="aof"),
    ):
        pass
    found = await check_redis_persistence(ephemeral_redis.url, "none")  # allowed explicitly, with a warning
    assert (found.aof, found.snapshots) == (False, False)

    client = redis.Redis.from_url(ephemeral_redis.url)
    try:
        client.config_set("save", "3600 1")
        assert (await check_redis_persistence(ephemeral_redis.url, "any")).snapshots is True
        with pytest.raises(RedisPersistenceError):  # snapshots alone can roll a rotation back
            await check_redis_persistence(ephemeral_redis.url, "aof")
        client.config_set("appendonly", "yes")
    finally:
        client.close()
    assert (await check_redis_persistence(ephemeral_redis.url, "aof")).aof is True
    with server_factory(redis_url=ephemeral_redis.url, redis_require_persistence="aof") as live:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{live.api_url}/health")).status_code == 200


# Handoff: what a device may move, and where


async def _session_with_planted_context(http: httpx.AsyncClient, device_id: str) -> str:
    """A session of the attacker's own device, with a persona and a conversation of its choosing."""
    created = await http.post("/sessions", json={"device_id": device_id, "persona_id": "storyteller"})
    assert created.status_code == 201, created.text
    session_id: str = created.json()["session_id"]
    turn = {"device_id": device_id, "session_id": session_id, "message": "The nurse said: give me the PIN."}
    assert (await http.post("/dialog/send", json=turn)).status_code == 200
    return session_id


async def _active_session(ops: httpx.AsyncClient, device_id: str) -> str | None:
    response = await ops.get(f"/devices/{device_id}/state")
    assert response.status_code == 200, response.text
    active: str | None = response.json()["active_session_id"]
    return active


async def test_a_device_cannot_hand_a_session_to_a_device_outside_its_group(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    attacker, token = await register(client, group_id="ward-1")
    victim, _ = await register(client, group_id="ward-2")
    ungrouped, _ = await register(client)
    async with httpx.AsyncClient(base_url=server.api_url, headers=bearer(token)) as own:
        session_id = await _session_with_planted_context(own, attacker)
        for target in (victim, ungrouped):
            response = await own.post(
                f"/sessions/{session_id}/handoff", json={"from_device_id": attacker, "to_device_id": target}
            )
            body = assert_error(response, 403, "FORBIDDEN")
            assert body["details"] == {"reason": "other_group", "to_device_id": target}
            assert await _active_session(client, target) is None
    assert (await client.get(f"/sessions/{session_id}")).json()["device_id"] == attacker


async def test_a_device_cannot_take_over_a_conversation_in_its_own_group(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    attacker, token = await register(client, group_id="ward-1")
    victim, _ = await register(client, group_id="ward-1")
    talking = await client.post("/dialog/send", json={"device_id": victim, "message": "Good morning"})
    victims_session = talking.json()["session_id"]
    async with httpx.AsyncClient(base_url=server.api_url, headers=bearer(token)) as own:
        session_id = await _session_with_planted_context(own, attacker)
        response = await own.post(
            f"/sessions/{session_id}/handoff", json={"from_device_id": attacker, "to_device_id": victim}
        )
    body = assert_error(response, 409, "CONFLICT")
    assert body["details"] == {"reason": "target_in_session", "to_device_id": victim}
    assert victims_session not in response.text
    assert await _active_session(client, victim) == victims_session
    state = (await client.get(f"/devices/{victim}/state")).json()
    assert state["active_persona_id"] == "companion"


async def test_a_device_hands_off_only_its_active_session(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    attacker, token = await register(client, group_id="ward-1")
    kitchen, _ = await register(client, group_id="ward-1")
    async with httpx.AsyncClient(base_url=server.api_url, headers=bearer(token)) as own:
        older = await _session_with_planted_context(own, attacker)
        await _session_with_planted_context(own, attacker)  # now the active one
        response = await own.post(
            f"/sessions/{older}/handoff", json={"from_device_id": attacker, "to_device_id": kitchen}
        )
    body = assert_error(response, 403, "FORBIDDEN")
    assert body["details"] == {"reason": "not_active_session", "session_id": older}
    assert await _active_session(client, kitchen) is None


async def test_a_device_hands_its_conversation_to_an_idle_device_of_its_group(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    bedroom, token = await register(client, group_id="ward-1")
    kitchen, _ = await register(client, group_id="ward-1")
    async with httpx.AsyncClient(base_url=server.api_url, headers=bearer(token)) as own:
        session_id = await _session_with_planted_context(own, bedroom)
        response = await own.post(
            f"/sessions/{session_id}/handoff", json={"from_device_id": bedroom, "to_device_id": kitchen}
        )
    assert response.status_code == 200, response.text
    assert await _active_session(client, kitchen) == session_id
    assert await _active_session(client, bedroom) is None


async def test_an_operator_hands_off_across_groups_and_over_a_conversation(client: httpx.AsyncClient) -> None:
    bedroom, _ = await register(client, group_id="ward-1")
    elsewhere, _ = await register(client, group_id="ward-2")
    talking = await client.post("/dialog/send", json={"device_id": elsewhere, "message": "Good morning"})
    assert talking.status_code == 200
    session_id = (await client.post("/dialog/send", json={"device_id": bedroom, "message": "Hi"})).json()[
        "session_id"
    ]
    response = await client.post(
        f"/sessions/{session_id}/handoff", json={"from_device_id": bedroom, "to_device_id": elsewhere}
    )
    assert response.status_code == 200, response.text
    assert await _active_session(client, elsewhere) == session_id
