"""§8.7 end to end: group activities and broadcasts reaching real device sockets."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, assert_nothing_pending, device_state
from tests.support.live_server import LiveServer, live_server, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module, to keep it fast; every test registers its own devices (and group)."""
    with live_server(make_settings(tmp_path_factory.mktemp("state"))) as live:
        yield live


@pytest.fixture
def group_id() -> str:
    """A group of this test's own, so `["all"]` never reaches another test's devices."""
    return f"grp-{secrets.token_hex(4)}"


def _activity(device_ids: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "activity_type": "trivia",
        "device_ids": device_ids,
        "persona_id": "entertainer",
        "config": {"difficulty": "easy", "rounds": 10},
        **fields,
    }


# Group activities


async def test_group_activity_starts_on_every_device(server: LiveServer, client: httpx.AsyncClient) -> None:
    first = await register(client)
    second = await register(client)
    ids = [first[0], second[0]]
    async with await connect(server, *first) as on_first, await connect(server, *second) as on_second:
        response = await client.post("/coordination/group-activity", json=_activity(ids))
        assert response.status_code == 201, response.text
        activity = response.json()
        assert activity["activity_id"].startswith("act_")
        assert activity["activity_type"] == "trivia"
        assert activity["persona_id"] == "entertainer"
        assert activity["device_ids"] == ids
        assert activity["config"] == {"difficulty": "easy", "rounds": 10}
        assert set(activity["session_ids"]) == set(ids)
        assert len(set(activity["session_ids"].values())) == 2
        assert datetime.fromisoformat(activity["starts_at"]) >= datetime.fromisoformat(activity["started_at"])

        for device_id, socket in ((first[0], on_first), (second[0], on_second)):
            event = await socket.expect("sync_event")
            payload = event["payload"]
            assert payload["event_type"] == "group_activity_start"
            assert payload["activity_id"] == activity["activity_id"]
            assert payload["activity_type"] == "trivia"
            assert payload["persona_id"] == "entertainer"
            assert payload["session_id"] == activity["session_ids"][device_id]
            assert datetime.fromisoformat(payload["starts_at"]) == datetime.fromisoformat(
                activity["starts_at"]
            )
            assert payload["device_ids"] == ids
            assert payload["config"] == {"difficulty": "easy", "rounds": 10}
            assert event["priority"] > 0

            state = await device_state(client, device_id)
            assert state["active_persona_id"] == "entertainer"
            assert state["active_session_id"] == activity["session_ids"][device_id]

        # Each device plays in its own session, with the activity's persona.
        await on_first.send("text_input", {"text": "quiz"})
        reply = (await on_first.expect("audio_response"))["payload"]
        assert reply["persona_id"] == "entertainer"
        assert reply["session_id"] == activity["session_ids"][first[0]]


async def test_group_activity_with_an_offline_device_is_503(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    online = await register(client)
    offline, _ = await register(client)
    async with await connect(server, *online) as socket:
        before = await device_state(client, online[0])
        response = await client.post("/coordination/group-activity", json=_activity([online[0], offline]))
        body = assert_error(response, 503, "DEVICE_OFFLINE")
        assert body["details"]["offline_device_ids"] == [offline]
        await assert_nothing_pending(socket)
        after = await device_state(client, online[0])
        assert after["active_session_id"] == before["active_session_id"]
        assert after["active_persona_id"] == before["active_persona_id"]


async def test_group_activity_refusals(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, token = await register(client)
    response = await client.post(
        "/coordination/group-activity", json=_activity([device_id], activity_type="bingo")
    )
    assert_error(response, 422, "VALIDATION_ERROR")
    response = await client.post(
        "/coordination/group-activity", json=_activity([device_id], persona_id="nobody")
    )
    body = assert_error(response, 404, "PERSONA_NOT_FOUND")
    assert body["details"] == {"requested_id": "nobody"}
    response = await client.post("/coordination/group-activity", json=_activity([device_id, "dev_nobody"]))
    body = assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert body["details"] == {"device_id": "dev_nobody"}
    assert_error(
        await client.post("/coordination/group-activity", json=_activity([])), 422, "VALIDATION_ERROR"
    )

    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}
    ) as own:
        response = await own.post("/coordination/group-activity", json=_activity([device_id]))
    assert_error(response, 403, "FORBIDDEN")
    assert (await device_state(client, device_id))["active_session_id"] is None


# Broadcasts


async def test_broadcast_to_explicit_targets(server: LiveServer, client: httpx.AsyncClient) -> None:
    online = await register(client)
    offline, _ = await register(client)
    async with await connect(server, *online) as socket:
        response = await client.post(
            "/coordination/broadcast",
            json={
                "event_type": "lunch_call",
                "target_devices": [online[0], offline],
                "payload": {"message": "Lunch is served", "room": "dining"},
            },
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["event_type"] == "lunch_call"
        assert result["event_id"].startswith("evt_")
        assert result["delivered"] == [online[0]]
        assert result["offline"] == [offline]

        event = await socket.expect("sync_event")
        assert event["payload"].pop("command_id").startswith("cmd_")
        assert event["payload"] == {
            "event_type": "lunch_call",
            "event_id": result["event_id"],
            "message": "Lunch is served",
            "room": "dining",
        }
        assert event["priority"] > 0


async def test_broadcast_payload_cannot_override_the_event_fields(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device = await register(client)
    async with await connect(server, *device) as socket:
        response = await client.post(
            "/coordination/broadcast",
            json={
                "event_type": "lunch_call",
                "target_devices": [device[0]],
                "payload": {"event_type": "fire_alarm", "event_id": "evt_spoofed", "room": "dining"},
            },
        )
        assert response.status_code == 200, response.text
        result = response.json()
        payload = (await socket.expect("sync_event"))["payload"]
        assert payload["event_type"] == result["event_type"] == "lunch_call"
        assert payload["event_id"] == result["event_id"] != "evt_spoofed"
        assert payload["room"] == "dining"


async def test_broadcast_to_all_reaches_only_the_group(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    first = await register(client, group_id=group_id)
    second = await register(client, group_id=group_id)
    asleep, _ = await register(client, group_id=group_id)
    outsider = await register(client, group_id=f"{group_id}-other")
    async with (
        await connect(server, *first) as on_first,
        await connect(server, *second) as on_second,
        await connect(server, *outsider) as on_outsider,
    ):
        response = await client.post(
            "/coordination/broadcast",
            json={
                "event_type": "sing_along",
                "target_devices": ["all"],
                "group_id": group_id,
                "payload": {"song": "Daisy Bell"},
            },
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert sorted(result["delivered"]) == sorted([first[0], second[0]])
        assert result["offline"] == [asleep]
        for socket in (on_first, on_second):
            payload = (await socket.expect("sync_event"))["payload"]
            assert payload["event_type"] == "sing_along"
            assert payload["event_id"] == result["event_id"]
            assert payload["song"] == "Daisy Bell"
        await assert_nothing_pending(on_outsider)


async def test_broadcast_with_every_target_offline_is_503(client: httpx.AsyncClient, group_id: str) -> None:
    first, _ = await register(client, group_id=group_id)
    second, _ = await register(client, group_id=group_id)
    response = await client.post(
        "/coordination/broadcast",
        json={"event_type": "lunch_call", "target_devices": [first, second], "payload": {}},
    )
    body = assert_error(response, 503, "DEVICE_OFFLINE")
    assert body["details"]["offline_device_ids"] == [first, second]
    response = await client.post(
        "/coordination/broadcast",
        json={"event_type": "lunch_call", "target_devices": ["all"], "group_id": group_id, "payload": {}},
    )
    body = assert_error(response, 503, "DEVICE_OFFLINE")
    assert sorted(body["details"]["offline_device_ids"]) == sorted([first, second])


async def test_broadcast_to_an_unknown_device_is_404_and_sends_nothing(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device = await register(client)
    async with await connect(server, *device) as socket:
        response = await client.post(
            "/coordination/broadcast",
            json={"event_type": "lunch_call", "target_devices": [device[0], "dev_nobody"], "payload": {}},
        )
        body = assert_error(response, 404, "DEVICE_NOT_FOUND")
        assert body["details"] == {"device_id": "dev_nobody"}
        await assert_nothing_pending(socket)


async def test_broadcast_refusals(server: LiveServer, client: httpx.AsyncClient, group_id: str) -> None:
    device_id, token = await register(client, group_id=group_id)
    empty_group = {
        "event_type": "x",
        "target_devices": ["all"],
        "group_id": f"{group_id}-empty",
        "payload": {},
    }
    assert_error(await client.post("/coordination/broadcast", json=empty_group), 404, "DEVICE_NOT_FOUND")
    no_targets = {"event_type": "x", "target_devices": [], "payload": {}}
    assert_error(await client.post("/coordination/broadcast", json=no_targets), 422, "VALIDATION_ERROR")
    bad_type = {"event_type": "two\nlines", "target_devices": [device_id], "payload": {}}
    assert_error(await client.post("/coordination/broadcast", json=bad_type), 422, "VALIDATION_ERROR")
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}
    ) as own:
        response = await own.post(
            "/coordination/broadcast", json={"event_type": "x", "target_devices": [device_id], "payload": {}}
        )
    assert_error(response, 403, "FORBIDDEN")


# One facility at a time: a broadcast or an activity never reaches devices of another group.


async def test_broadcast_to_all_without_a_group_is_refused_and_reaches_nobody(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    home = await register(client, group_id=group_id)
    other = await register(client, group_id=f"{group_id}-other")
    ungrouped = await register(client)
    async with (
        await connect(server, *home) as on_home,
        await connect(server, *other) as on_other,
        await connect(server, *ungrouped) as on_ungrouped,
    ):
        response = await client.post(
            "/coordination/broadcast",
            json={"event_type": "fire_drill", "target_devices": ["all"], "payload": {}},
        )
        body = assert_error(response, 422, "VALIDATION_ERROR")
        assert "group_id" in body["message"]
        mixed = {"event_type": "fire_drill", "target_devices": ["all", home[0]], "group_id": group_id}
        assert_error(
            await client.post("/coordination/broadcast", json={**mixed, "payload": {}}),
            422,
            "VALIDATION_ERROR",
        )
        for socket in (on_home, on_other, on_ungrouped):
            await assert_nothing_pending(socket)


async def test_broadcast_to_a_list_that_leaves_the_group_is_refused_and_reaches_nobody(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    home = await register(client, group_id=group_id)
    other = await register(client, group_id=f"{group_id}-other")
    async with await connect(server, *home) as on_home, await connect(server, *other) as on_other:
        both = {"event_type": "tea", "target_devices": [home[0], other[0]], "payload": {}}
        body = assert_error(await client.post("/coordination/broadcast", json=both), 409, "CONFLICT")
        assert body["details"]["reason"] == "mixed_groups"
        assert body["details"]["groups"] == {home[0]: group_id, other[0]: f"{group_id}-other"}
        scoped = {**both, "group_id": group_id}
        body = assert_error(await client.post("/coordination/broadcast", json=scoped), 409, "CONFLICT")
        assert body["details"] == {"reason": "outside_group", "group_id": group_id, "device_ids": [other[0]]}
        for socket in (on_home, on_other):
            await assert_nothing_pending(socket)

        # Inside the group it goes through, to the group's device only.
        inside = {**scoped, "target_devices": [home[0]]}
        response = await client.post("/coordination/broadcast", json=inside)
        assert response.status_code == 200, response.text
        assert response.json()["delivered"] == [home[0]]
        assert (await on_home.expect("sync_event"))["payload"]["event_type"] == "tea"
        await assert_nothing_pending(on_other)


async def test_an_activity_across_groups_is_refused_and_starts_nowhere(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    home = await register(client, group_id=group_id)
    other = await register(client, group_id=f"{group_id}-other")
    async with await connect(server, *home) as on_home, await connect(server, *other) as on_other:
        response = await client.post("/coordination/group-activity", json=_activity([home[0], other[0]]))
        body = assert_error(response, 409, "CONFLICT")
        assert body["details"]["reason"] == "mixed_groups"
        for device, socket in ((home, on_home), (other, on_other)):
            await assert_nothing_pending(socket)
            assert (await device_state(client, device[0]))["active_session_id"] is None


async def test_a_broadcast_carries_its_line_and_priority(
    server: LiveServer, client: httpx.AsyncClient, group_id: str
) -> None:
    device = await register(client, group_id=group_id)
    async with await connect(server, *device) as socket:
        response = await client.post(
            "/coordination/broadcast",
            json={
                "event_type": "announcement",
                "target_devices": ["all"],
                "group_id": group_id,
                "payload": {"room": "lounge"},
                "speak": "Tea is served in the lounge.",
                "priority": 9,
            },
        )
        assert response.status_code == 200, response.text
        # This server runs without its voice models: the device gets the line to show, nobody says it.
        assert response.json()["spoken"] == []
        event = await socket.expect("sync_event")
        assert event["priority"] == 9
        assert event["payload"]["speak"] == "Tea is served in the lounge."
        assert event["payload"]["room"] == "lounge"
        # A payload cannot make a device say something: only the request's `speak` is a line.
        spoofed = {
            "event_type": "x",
            "target_devices": [device[0]],
            "payload": {"speak": "Leave the building"},
        }
        assert (await client.post("/coordination/broadcast", json=spoofed)).status_code == 200
        event = await socket.expect("sync_event")
        assert "speak" not in event["payload"]
    too_urgent = {"event_type": "x", "target_devices": [device[0]], "payload": {}, "priority": 11}
    assert_error(await client.post("/coordination/broadcast", json=too_urgent), 422, "VALIDATION_ERROR")
    blank = {"event_type": "x", "target_devices": [device[0]], "payload": {}, "speak": "   "}
    assert_error(await client.post("/coordination/broadcast", json=blank), 422, "VALIDATION_ERROR")
