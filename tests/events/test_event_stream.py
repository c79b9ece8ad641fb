"""The operator event stream (GET /v1/events, Server-Sent Events) on real servers and a real redis-server.

Two instances share one Redis: a client that read some events from one and reconnects to the
other (or to the first after it restarted) with its `Last-Event-ID` gets exactly the events it
had not seen, in order. Filters by group and device; words only for a token with
`transcripts:read`; a `reset` event for an id older than the retention or unknown; heartbeats;
presence and command acks from a real device socket; refusals in the spec's error body.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.auth import TokenService
from server.events.controller import TRANSCRIPTS_SCOPE
from tests.server.helpers import assert_error
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer, live_server, make_settings
from tests.support.redis_server import running_redis_server
from tests.support.sse import EventStream, open_stream


def token(live: LiveServer, *scopes: str, role: Any = "operator", subject: str = "ops") -> str:
    tokens = TokenService(secret=live.settings.jwt_secret, algorithm="HS256", issuer=live.settings.jwt_issuer)
    return tokens.issue(role=role, subject=subject, ttl_s=3600, scopes=scopes).token


async def register(live: LiveServer, name: str, group_id: str | None) -> tuple[str, str]:
    async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
        body: dict[str, Any] = {"name": name, "device_type": "tablet"}
        if group_id is not None:
            body["group_id"] = group_id
        response = await http.post("/devices", json=body)
        assert response.status_code == 201, response.text
        return response.json()["device_id"], response.json()["auth_token"]


async def say(live: LiveServer, device_id: str, text: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers, timeout=30) as http:
        response = await http.post("/dialog/send", json={"device_id": device_id, "message": text})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


async def turns(stream: EventStream, count: int) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for _ in range(count):
        event = await stream.next_of("turn_finished")
        assert event.id is not None
        found.append((event.id, event.data))
    return found


def id_key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis_server() as url:
        yield url


@pytest.fixture
def shared(tmp_path: Path, redis_url: str) -> dict[str, Any]:
    """Settings for instances sharing one Redis (a prefix of their own per test)."""
    return {"redis_url": redis_url, "redis_key_prefix": f"t{secrets.token_hex(4)}:"}


async def test_resume_on_another_instance_and_after_a_restart(tmp_path: Path, shared: dict[str, Any]) -> None:
    with (
        live_server(make_settings(tmp_path / "a", **shared)) as a,
        live_server(make_settings(tmp_path / "b", **shared)) as b,
    ):
        device, _ = await register(a, "lounge", "wing-a")
        async with open_stream(a.api_url, token(a)) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            await say(a, device, "Tell me about the garden.")
            await say(a, device, "What is for lunch?")
            seen = await turns(stream, 2)
            assert stream.retry_ms is not None
            assert stream.retry_ms > 0
        last_seen = seen[-1][0]
        # Disconnected: three turns happen, answered by both instances.
        for live, text in ((a, "Play some music."), (b, "Who won the match?"), (b, "Good night.")):
            await say(live, device, text)
        async with open_stream(b.api_url, token(b), last_event_id=last_seen) as stream:
            missed = await turns(stream, 3)
        ids = [event_id for event_id, _ in missed]
        assert ids == sorted(ids, key=id_key)
        assert id_key(ids[0]) > id_key(last_seen)
        assert all(data["device_id"] == device and data["group_id"] == "wing-a" for _, data in missed)
        assert len(set(ids) | {i for i, _ in seen}) == 5  # none repeated

    # Instance a restarts; the events of b meanwhile are not lost to a client of the new a (query fallback).
    with live_server(make_settings(tmp_path / "b2", **shared)) as b2:
        await say(b2, device, "Is it raining?")
        with live_server(make_settings(tmp_path / "a2", **shared)) as a2:
            params = {"last_event_id": ids[-1]}
            async with open_stream(a2.api_url, token(a2), params=params) as stream:
                ((event_id, data),) = await turns(stream, 1)
                assert id_key(event_id) > id_key(ids[-1])
                assert data["source"] == "dialog"
                assert data["persona_id"]


async def test_group_and_device_filters(tmp_path: Path, shared: dict[str, Any]) -> None:
    with live_server(make_settings(tmp_path, **shared)) as live:
        wing_a, _ = await register(live, "a1", "wing-a")
        other_a, _ = await register(live, "a2", "wing-a")
        wing_b, _ = await register(live, "b1", "wing-b")
        async with (
            open_stream(live.api_url, token(live), params={"group_id": "wing-a"}) as group_a,
            open_stream(live.api_url, token(live), params={"device_id": other_a}) as one_device,
        ):
            for device in (wing_b, wing_a, wing_b, other_a):
                await say(live, device, "Hello there.")
            got = await turns(group_a, 2)
            assert [data["device_id"] for _, data in got] == [wing_a, other_a]
            ((_, only),) = await turns(one_device, 1)
            assert only["device_id"] == other_a
            await say(live, wing_a, "And again.")  # the next one through the group filter is this
            ((_, next_one),) = await turns(group_a, 1)
            assert next_one["device_id"] == wing_a


async def test_words_only_with_the_transcripts_scope(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path)) as live:
        device, _ = await register(live, "room 12", None)
        async with (
            open_stream(live.api_url, token(live)) as plain,
            open_stream(live.api_url, token(live, TRANSCRIPTS_SCOPE)) as allowed,
        ):
            reply = await say(live, device, "My grandson visited today.")
            ((_, without),) = await turns(plain, 1)
            ((_, with_words),) = await turns(allowed, 1)
        assert "user_text" not in without
        assert "reply_text" not in without
        assert without["latency_ms"] > 0
        assert without["session_id"] == reply["session_id"]
        assert with_words["user_text"] == "My grandson visited today."
        assert with_words["reply_text"] == reply["response_text"]


async def test_an_id_past_the_retention_or_unknown_gets_a_reset(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path, events_retention=3)) as live:
        device, _ = await register(live, "hall", None)
        async with open_stream(live.api_url, token(live)) as stream:
            for n in range(6):
                await say(live, device, f"Turn number {n}.")
            ids = [event_id for event_id, _ in await turns(stream, 6)]
        async with open_stream(live.api_url, token(live), last_event_id=ids[0]) as stream:
            reset = await stream.next()
            assert reset.event == "reset"
            assert reset.data == {"reason": "retention", "oldest_id": ids[3]}
            assert [i for i, _ in await turns(stream, 3)] == ids[3:]
        future = f"{id_key(ids[-1])[0] + 10**6}-0"
        async with open_stream(live.api_url, token(live), last_event_id=future) as stream:
            reset = await stream.next()
            assert reset.event == "reset"
            assert reset.data["reason"] == "unknown_id"
        # Nothing missed: no reset, and nothing before the next event.
        async with open_stream(live.api_url, token(live), last_event_id=ids[-1]) as stream:
            await say(live, device, "One more.")
            first = await stream.next()
            assert first.event == "turn_finished"
            assert id_key(first.id or "") > id_key(ids[-1])


async def test_presence_and_command_acks_from_a_device_socket(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path, events_heartbeat_s=0.3)) as live:
        device, device_token = await register(live, "bedroom", "wing-c")
        async with open_stream(live.api_url, token(live), params={"group_id": "wing-c"}) as stream:
            async with await DeviceClient.connect(live.ws_url, device, device_token) as socket:
                online = await stream.next_of("device_status")
                assert online.data["status"] == "online"
                assert online.data["device_id"] == device
                async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
                    led = {"color": "#00ff00", "pattern": "solid"}
                    sent = await http.post(
                        f"/devices/{device}/commands", json={"type": "led_control", "payload": led}
                    )
                assert sent.status_code == 202, sent.text
                command_id = (await socket.expect("led_control"))["payload"]["command_id"]
                await socket.send("ack", {"command_id": command_id, "status": "done"})
                ack = await stream.next_of("command_ack")
                assert ack.data["command_id"] == command_id
                assert ack.data["command_type"] == "led_control"
            offline = await stream.next_of("device_status")
            assert offline.data["status"] == "offline"


async def test_heartbeat_comments_while_nothing_happens(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path, events_heartbeat_s=0.2)) as live:
        async with open_stream(live.api_url, token(live)) as stream:
            with pytest.raises(TimeoutError):
                await stream.next(timeout=0.7)
            assert stream.comments.count("keep-alive") >= 2


async def test_refusals_in_the_error_body(tmp_path: Path) -> None:
    with live_server(make_settings(tmp_path)) as live:
        _device, device_token = await register(live, "kitchen", None)
        async with httpx.AsyncClient(base_url=live.api_url, timeout=10) as http:
            for headers, params, status, code in (
                ({}, {}, 401, "UNAUTHORIZED"),
                ({"Authorization": f"Bearer {device_token}"}, {}, 403, "FORBIDDEN"),
                (
                    {"Authorization": f"Bearer {token(live)}", "Last-Event-ID": "yesterday"},
                    {},
                    422,
                    "VALIDATION_ERROR",
                ),
                (
                    {"Authorization": f"Bearer {token(live)}"},
                    {"last_event_id": "1-x"},
                    422,
                    "VALIDATION_ERROR",
                ),
                (
                    {"Authorization": f"Bearer {token(live)}"},
                    {"kinds": "turn_finished,gossip"},
                    422,
                    "VALIDATION_ERROR",
                ),
            ):
                assert_error(await http.get("/events", headers=headers, params=params), status, code)
