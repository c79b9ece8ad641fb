"""A group activity's lifecycle over REST: listed, read and stopped, on one instance and across two on
one real redis-server; stopping it sends every participant back to its own session and persona."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, device_state
from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer

Pair = tuple[LiveServer, LiveServer]


@pytest.fixture
def group_id() -> str:
    return f"grp-{secrets.token_hex(4)}"


@pytest.fixture
def pair(server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str) -> Iterator[Pair]:
    """Instances A and B on one Redis, under a key prefix of their own."""
    prefix = f"t{secrets.token_hex(4)}:"
    with ExitStack() as stack:
        a = stack.enter_context(server_factory(redis_url=redis_url, redis_key_prefix=prefix))
        b = stack.enter_context(server_factory(redis_url=redis_url, redis_key_prefix=prefix))
        yield a, b


def operator(server: LiveServer) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.api_url, headers=server.operator_headers, timeout=10)


async def own_session(http: httpx.AsyncClient, device_id: str, persona_id: str) -> str:
    """The device's own conversation before the activity, in its own persona."""
    response = await http.post("/sessions", json={"device_id": device_id, "persona_id": persona_id})
    assert response.status_code == 201, response.text
    session_id: str = response.json()["session_id"]
    return session_id


async def start(http: httpx.AsyncClient, device_ids: list[str], **fields: Any) -> dict[str, Any]:
    body = {"activity_type": "trivia", "device_ids": device_ids, "persona_id": "entertainer", **fields}
    response = await http.post("/coordination/group-activity", json=body)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


async def answered_by(socket: DeviceClient, text: str) -> dict[str, Any]:
    """The persona and session the device's next turn is answered in."""
    await socket.send("text_input", {"text": text})
    payload: dict[str, Any] = (await socket.expect("audio_response"))["payload"]
    return payload


async def test_an_activity_is_listed_read_and_stopped_and_each_device_goes_back_to_its_own(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    first = await register(client, group_id=group_id)
    second = await register(client, group_id=group_id)
    ids = [first[0], second[0]]
    first_own = await own_session(client, first[0], "storyteller")  # the second has no session yet
    async with await connect(server, *first) as on_first, await connect(server, *second) as on_second:
        started = await start(client, ids)
        activity_id = started["activity_id"]
        for socket in (on_first, on_second):
            assert (await socket.expect("sync_event"))["payload"]["activity_id"] == activity_id

        got = (await client.get(f"/coordination/activities/{activity_id}")).json()
        assert got["status"] == "running"
        assert got["group_id"] == group_id
        assert got["device_ids"] == ids
        assert got["session_ids"] == started["session_ids"]
        assert got["persona_id"] == "entertainer"
        assert got["ended_at"] is None
        assert got["scores"] == {}
        assert got["current_round"] is None
        listed = (await client.get("/coordination/activities", params={"group_id": group_id})).json()
        assert [a["activity_id"] for a in listed["activities"]] == [activity_id]
        assert listed["total"] == 1
        assert listed["next_cursor"] is None
        assert (await answered_by(on_first, "quiz"))["persona_id"] == "entertainer"

        response = await client.post(f"/coordination/activities/{activity_id}/stop")
        assert response.status_code == 200, response.text
        stopped = response.json()
        assert stopped["status"] == "stopped"
        assert stopped["ended_at"] is not None

        # The activity's sessions ended at once.
        for session_id in started["session_ids"].values():
            assert (await client.get(f"/sessions/{session_id}")).json()["status"] == "ended"
        # The first goes back to its own conversation, in its own persona; the second (which had none)
        # to a new session in the default persona.
        state = await device_state(client, first[0])
        assert (state["active_session_id"], state["active_persona_id"]) == (first_own, "storyteller")
        reply = await answered_by(on_first, "Hello again")
        assert (reply["session_id"], reply["persona_id"]) == (first_own, "storyteller")
        state = await device_state(client, second[0])
        assert state["active_session_id"] not in (None, started["session_ids"][second[0]])
        reply = await answered_by(on_second, "Hello again")
        assert reply["persona_id"] == "companion"
        assert reply["session_id"] == state["active_session_id"]

    # Stopped is stopped: again changes nothing; the status filter sees it.
    again = await client.post(f"/coordination/activities/{activity_id}/stop")
    assert again.json() == stopped
    running = (
        await client.get("/coordination/activities", params={"group_id": group_id, "status": "running"})
    ).json()
    assert running["activities"] == []
    assert running["total"] == 0
    done = (
        await client.get("/coordination/activities", params={"group_id": group_id, "status": "stopped"})
    ).json()
    assert [a["activity_id"] for a in done["activities"]] == [activity_id]


async def test_activities_page_by_cursor(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    device = await register(client, group_id=group_id)
    async with await connect(server, *device):
        started = [(await start(client, [device[0]]))["activity_id"] for _ in range(3)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"group_id": group_id, "limit": 2, **({"cursor": cursor} if cursor else {})}
        body = (await client.get("/coordination/activities", params=params)).json()
        assert body["total"] == 3
        seen += [a["activity_id"] for a in body["activities"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == started
    assert_error(
        await client.get("/coordination/activities", params={"status": "paused"}), 422, "VALIDATION_ERROR"
    )


async def test_a_device_sees_only_its_own_activities_and_stops_none(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    player = await register(client, group_id=group_id)
    elsewhere = await register(client, group_id=f"{group_id}-other")
    async with await connect(server, *player), await connect(server, *elsewhere):
        ours = (await start(client, [player[0]]))["activity_id"]
        theirs = (await start(client, [elsewhere[0]]))["activity_id"]
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {player[1]}"}
    ) as own:
        listed = (await own.get("/coordination/activities")).json()
        assert [a["activity_id"] for a in listed["activities"]] == [ours]
        assert (await own.get(f"/coordination/activities/{ours}")).status_code == 200
        body = assert_error(await own.get(f"/coordination/activities/{theirs}"), 404, "ACTIVITY_NOT_FOUND")
        assert body["details"] == {"activity_id": theirs}
        assert_error(await own.post(f"/coordination/activities/{ours}/stop"), 403, "FORBIDDEN")
    assert (await client.get(f"/coordination/activities/{ours}")).json()["status"] == "running"
    assert_error(await client.get("/coordination/activities/act_nobody"), 404, "ACTIVITY_NOT_FOUND")
    assert_error(await client.post("/coordination/activities/act_nobody/stop"), 404, "ACTIVITY_NOT_FOUND")


async def test_two_instances_run_one_activity_and_either_stops_it(pair: Pair, group_id: str) -> None:
    """The lounge's socket on A, the library's on B; the activity starts on A and is stopped on B."""
    a, b = pair
    async with operator(a) as on_a, operator(b) as on_b:
        lounge = await register(on_a, group_id=group_id)
        library = await register(on_a, group_id=group_id)
        lounge_own = await own_session(on_a, lounge[0], "memory_keeper")
        library_own = await own_session(on_b, library[0], "storyteller")
        async with await connect(a, *lounge) as on_lounge, await connect(b, *library) as on_library:
            started = await start(on_a, [lounge[0], library[0]])
            activity_id = started["activity_id"]
            for socket in (on_lounge, on_library):
                assert (await socket.expect("sync_event"))["payload"]["activity_id"] == activity_id
            seen_on_b = (await on_b.get(f"/coordination/activities/{activity_id}")).json()
            assert seen_on_b["status"] == "running"
            assert seen_on_b["session_ids"] == started["session_ids"]
            assert (await answered_by(on_library, "quiz"))["persona_id"] == "entertainer"

            response = await on_b.post(f"/coordination/activities/{activity_id}/stop")
            assert response.status_code == 200, response.text
            assert (await on_a.get(f"/coordination/activities/{activity_id}")).json()["status"] == "stopped"
            for socket, own, persona in (
                (on_lounge, lounge_own, "memory_keeper"),
                (on_library, library_own, "storyteller"),
            ):
                reply = await answered_by(socket, "Hello again")
                assert (reply["session_id"], reply["persona_id"]) == (own, persona)


async def test_a_start_for_many_devices_is_written_in_one_transaction_and_awaited_by_one_waiter(
    server_factory: Callable[..., AbstractContextManager[LiveServer]], redis_url: str, group_id: str
) -> None:
    """Watched with MONITOR on the real redis-server: the activity, every device's session, runtime
    and `sync_event` go in one MULTI/EXEC, and every live loop's answer is awaited by one BLPOP naming
    them all, not one device after another."""
    devices = 6
    with server_factory(redis_url=redis_url, redis_key_prefix=f"t{secrets.token_hex(4)}:") as live:
        async with operator(live) as http:
            fleet = [await register(http, group_id=group_id) for _ in range(devices)]
            sockets = [await connect(live, *device) for device in fleet]
            try:
                await start(http, [fleet[0][0]])  # the scripts loaded, the connections made

                async def start_all() -> None:
                    await start(http, [device_id for device_id, _ in fleet])
                    for socket in sockets:
                        await socket.expect("sync_event")

                sent = await commands_sent(redis_url, start_all)
            finally:
                for socket in sockets:
                    await socket.close()
    names = [command.split(" ", 1)[0].upper() for command in sent]
    transactions = []  # each MULTI ... EXEC (the live loops answer in small ones of their own)
    while "MULTI" in names:
        begin = names.index("MULTI")
        end = names.index("EXEC", begin)
        transactions.append(names[begin:end])
        names = names[end + 1 :]
    writes = [t for t in transactions if "EVALSHA" in t]
    assert len(writes) == 1, transactions
    assert writes[0].count("EVALSHA") == devices  # the sessions
    assert writes[0].count("HSET") == devices  # the runtimes
    waits = [command for command in sent if command.upper().startswith("BLPOP")]
    assert waits, sent
    assert waits[0].count("outcome:") == devices


async def commands_sent(redis_url: str, request: Callable[[], Awaitable[object]]) -> list[str]:
    """Every command clients sent Redis (not those a script ran) while `request` ran, in order."""
    marker = f"end-{secrets.token_hex(4)}"
    client = Redis.from_url(redis_url)
    try:
        async with client.monitor() as monitor:
            await request()
            await client.echo(marker)
            seen = []
            while marker not in (command := await monitor.next_command())["command"]:
                if command["client_type"] != "lua":
                    seen.append(command["command"])
            return seen
    finally:
        await client.aclose()
