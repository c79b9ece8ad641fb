"""Synchronised playback end to end: real sockets, reference devices with deliberately offset clocks.

A device's clock is this machine's (the server's, on loopback) plus an offset: what the server tells
it must map, through its true offset, to the one instant the server chose, within the uncertainty the
server itself states (half the round trip it measured) plus the device's own clock noise.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from benchmarks.lib.device import DeviceClock, DeviceSocket, Received
from server.media.library import MediaUrlSigner
from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import TEST_SECRET, LiveServer

JITTER_S = 0.0005
SONG = b"RIFF" + secrets.token_bytes(2000)
OFFSETS_S = (3.0, -2.0, 0.0)


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "song.wav").write_bytes(SONG)
    (folder / ".hidden.wav").write_bytes(b"hidden")
    (tmp_path / "outside.txt").write_text("not in the library")
    return folder


@pytest.fixture
def server(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], media_dir: Path
) -> Iterator[LiveServer]:
    with server_factory(media_dir=media_dir) as live:
        yield live


async def _devices(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack, offsets: tuple[float, ...]
) -> list[tuple[DeviceSocket, DeviceClock]]:
    devices: list[tuple[DeviceSocket, DeviceClock]] = []
    for offset in offsets:
        device_id, token = await register(client)
        socket = await DeviceSocket.connect(server.base_url, device_id, token)
        stack.push_async_callback(socket.close)
        clock = DeviceClock(offset_s=offset, jitter_s=JITTER_S, seed=len(devices))
        await socket.sync_clock(clock)
        devices.append((socket, clock))
    return devices


def _start(device_ids: list[str], media: str = "song.wav") -> dict[str, Any]:
    return {
        "activity_type": "sync_playback",
        "device_ids": device_ids,
        "persona_id": "entertainer",
        "config": {"media": media},
    }


def _maps_to_the_instant(cue: dict[str, Any], clock: DeviceClock) -> None:
    """The cue's instant on the device's clock is the server's instant, within the stated uncertainty."""
    assert cue["device_at_ms"] is not None, cue
    assert cue["uncertainty_ms"] is not None, cue
    on_true_clock = cue["device_at_ms"] - clock.offset_s * 1000
    allowed = cue["uncertainty_ms"] + 2 * JITTER_S * 1000 + 0.1
    assert abs(on_true_clock - cue["at_ms"]) <= allowed, (on_true_clock - cue["at_ms"], cue)


async def _event(socket: DeviceSocket, event_type: str, since: int = 0) -> Received:
    return await socket.wait_for(
        lambda m: m.type == "sync_event" and m.payload.get("event_type") == event_type, since=since
    )


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as exits:
        yield exits


async def test_start_maps_to_one_instant_on_offset_clocks(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    devices = await _devices(server, client, stack, OFFSETS_S)
    response = await client.post(
        "/coordination/group-activity", json=_start([s.device_id for s, _ in devices])
    )
    assert response.status_code == 201, response.text
    activity = response.json()
    cues = [(await _event(socket, "group_activity_start")).payload["playback"] for socket, _ in devices]
    for (_, clock), cue in zip(devices, cues, strict=True):
        assert cue["media"] == "song.wav"
        assert cue["state"] == "playing"
        assert cue["position_s"] == 0
        assert datetime.fromisoformat(cue["at"]) == datetime.fromisoformat(activity["starts_at"])
        assert cue["at_ms"] == pytest.approx(datetime.fromisoformat(cue["at"]).timestamp() * 1000)
        _maps_to_the_instant(cue, clock)
    # Each device starts at the instant on its own clock: none before it (within its uncertainty).
    for (socket, clock), cue in zip(devices, cues, strict=True):
        started = await socket.start_at(clock, cue)
        assert started >= cue["at_ms"] - cue["uncertainty_ms"] - 2 * JITTER_S * 1000 - 0.1
    # The pre-signed URL serves the library's file, to anyone holding it, without a token.
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as anonymous:
        fetched = await anonymous.get(cues[0]["media_url"])
        assert fetched.status_code == 200
        assert fetched.content == SONG


async def test_a_plain_heartbeat_is_answered_as_before(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    device_id, token = await register(client)
    socket = await DeviceSocket.connect(server.base_url, device_id, token)
    stack.push_async_callback(socket.close)
    ack = await socket.heartbeat_acked()
    assert set(ack.payload) == {"server_time"}
    stamped = await socket.heartbeat_acked_with({"t0": 1234.5})
    assert stamped.payload["t0"] == 1234.5
    assert stamped.payload["t1"] <= stamped.payload["t2"]


async def test_pause_resume_stop_reach_every_device(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    devices = await _devices(server, client, stack, OFFSETS_S)
    response = await client.post(
        "/coordination/group-activity", json=_start([s.device_id for s, _ in devices])
    )
    activity_id = response.json()["activity_id"]
    path = f"/coordination/activities/{activity_id}/playback"
    resumed = assert_error(await client.post(path, json={"action": "resume"}), 409, "CONFLICT")
    assert resumed["details"]["state"] == "playing"
    for action, event, state in (
        ("pause", "playback_pause", "paused"),
        ("resume", "playback_resume", "playing"),
        ("stop", "playback_stop", "stopped"),
    ):
        marks = [socket.mark() for socket, _ in devices]
        answer = await client.post(path, json={"action": action})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["state"] == state
        for (socket, clock), mark in zip(devices, marks, strict=True):
            payload = (await _event(socket, event, since=mark)).payload
            assert payload["activity_id"] == activity_id
            cue = payload["playback"]
            assert cue["state"] == state
            assert cue["position_s"] == body["position_s"]
            _maps_to_the_instant(cue, clock)
    got = await client.get(f"/coordination/activities/{activity_id}")
    assert got.json()["status"] == "stopped"
    assert_error(await client.post(path, json={"action": "pause"}), 409, "CONFLICT")
    assert_error(await client.post(path, json={"action": "rewind"}), 422, "VALIDATION_ERROR")


async def test_stopping_the_activity_stops_its_playback_on_every_device(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    devices = await _devices(server, client, stack, OFFSETS_S)
    response = await client.post(
        "/coordination/group-activity", json=_start([s.device_id for s, _ in devices])
    )
    activity_id = response.json()["activity_id"]
    marks = [socket.mark() for socket, _ in devices]
    stopped = await client.post(f"/coordination/activities/{activity_id}/stop")
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "stopped"
    for (socket, clock), mark in zip(devices, marks, strict=True):
        payload = (await _event(socket, "playback_stop", since=mark)).payload
        assert payload["playback"]["state"] == "stopped"
        _maps_to_the_instant(payload["playback"], clock)


async def test_media_outside_the_library_is_refused(
    server: LiveServer, client: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    devices = await _devices(server, client, stack, (0.0,))
    ids = [devices[0][0].device_id]
    for name in ("../outside.txt", "/etc/passwd", ".hidden.wav", "sub/song.wav"):
        body = assert_error(
            await client.post("/coordination/group-activity", json=_start(ids, name)), 422, "VALIDATION_ERROR"
        )
        assert "config" in body["message"]
    missing = assert_error(
        await client.post("/coordination/group-activity", json=_start(ids, "missing.wav")),
        404,
        "MEDIA_NOT_FOUND",
    )
    assert missing["details"] == {"media": "missing.wav"}
    no_media = {**_start(ids), "config": {}}
    none = assert_error(
        await client.post("/coordination/group-activity", json=no_media), 404, "MEDIA_NOT_FOUND"
    )
    assert none["details"] == {"media": None}
    # A correctly signed URL for a name outside the folder serves nothing.
    signer = MediaUrlSigner(secret=TEST_SECRET, ttl_s=60)
    async with httpx.AsyncClient(base_url=server.base_url, trust_env=False) as anonymous:
        assert_error(await anonymous.get(signer.path(".hidden.wav")), 404, "MEDIA_NOT_FOUND")
        # `..%2F` is decoded before routing: no route at all, and nothing of the file
        outside = await anonymous.get(signer.path("../outside.txt"))
        assert outside.json()["error_code"] in {"NOT_FOUND", "MEDIA_NOT_FOUND"}
        assert_error(outside, 404, outside.json()["error_code"])
        unsigned = await anonymous.get("/v1/media/song.wav/content")
        assert_error(unsigned, 403, "AUDIO_URL_INVALID")
    listed = await client.get("/media")
    assert [m["name"] for m in listed.json()["media"]] == ["song.wav"]
    _, device_token = await register(client)
    as_device = await client.get("/media", headers={"Authorization": f"Bearer {device_token}"})
    assert_error(as_device, 403, "FORBIDDEN")


async def test_two_instances_on_one_redis(
    server_factory: Callable[..., AbstractContextManager[LiveServer]],
    redis_url: str,
    media_dir: Path,
    stack: AsyncExitStack,
) -> None:
    prefix = f"t{secrets.token_hex(4)}:"
    with ExitStack() as servers:
        a, b = (
            servers.enter_context(
                server_factory(redis_url=redis_url, redis_key_prefix=prefix, media_dir=media_dir)
            )
            for _ in range(2)
        )
        async with (
            httpx.AsyncClient(base_url=a.api_url, headers=a.operator_headers) as on_a,
            httpx.AsyncClient(base_url=b.api_url, headers=b.operator_headers) as on_b,
        ):
            first = await _devices(a, on_a, stack, (3.0,))
            second = await _devices(b, on_a, stack, (-2.0,))
            devices = first + second
            response = await on_a.post(
                "/coordination/group-activity", json=_start([s.device_id for s, _ in devices])
            )
            assert response.status_code == 201, response.text
            activity_id = response.json()["activity_id"]
            for socket, clock in devices:
                _maps_to_the_instant(
                    (await _event(socket, "group_activity_start")).payload["playback"], clock
                )
            marks = [socket.mark() for socket, _ in devices]
            paused = await on_b.post(
                f"/coordination/activities/{activity_id}/playback", json={"action": "pause"}
            )
            assert paused.status_code == 200, paused.text
            for (socket, clock), mark in zip(devices, marks, strict=True):
                _maps_to_the_instant(
                    (await _event(socket, "playback_pause", since=mark)).payload["playback"], clock
                )
