"""§8.6 end to end: sessions created, read, listed, ended and handed off between devices."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error, assert_nothing_pending, device_state
from tests.support.live_server import LiveServer, live_server, make_settings

SESSION_FIELDS = {
    "session_id",
    "device_id",
    "persona_id",
    "user_id",
    "metadata",
    "status",
    "created_at",
    "expires_at",
    "ended_at",
    "turns",
}
SESSION_TTL_S = 600


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for the module, to keep it fast; every test registers its own devices."""
    settings = make_settings(tmp_path_factory.mktemp("state"), session_ttl_s=SESSION_TTL_S)
    with live_server(settings) as live:
        yield live


async def _create(
    http: httpx.AsyncClient, device_id: str, persona_id: str = "companion", **fields: Any
) -> Any:
    response = await http.post("/sessions", json={"device_id": device_id, "persona_id": persona_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def _get(http: httpx.AsyncClient, session_id: str) -> Any:
    response = await http.get(f"/sessions/{session_id}")
    assert response.status_code == 200, response.text
    return response.json()


async def _say(http: httpx.AsyncClient, device_id: str, session_id: str, message: str = "Hello") -> Any:
    body = {"device_id": device_id, "session_id": session_id, "message": message}
    response = await http.post("/dialog/send", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def _ids(http: httpx.AsyncClient, **params: str) -> set[str]:
    response = await http.get("/sessions", params=params)
    assert response.status_code == 200, response.text
    listing = response.json()
    assert listing["total"] == len(listing["sessions"])
    return {s["session_id"] for s in listing["sessions"]}


# Create, get, list, end


async def test_create_session(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    response = await client.post(
        "/sessions",
        json={
            "device_id": device_id,
            "persona_id": "storyteller",
            "user_id": "resident-12",
            "metadata": {"room": "12", "shift": "evening"},
        },
    )
    assert response.status_code == 201, response.text
    session = response.json()
    assert set(session) == SESSION_FIELDS
    assert session["session_id"].startswith("sess_")
    assert session["device_id"] == device_id
    assert session["persona_id"] == "storyteller"
    assert session["user_id"] == "resident-12"
    assert session["metadata"] == {"room": "12", "shift": "evening"}
    assert session["status"] == "active"
    assert session["ended_at"] is None
    assert session["turns"] == 0
    created = datetime.fromisoformat(session["created_at"])
    expires = datetime.fromisoformat(session["expires_at"])
    assert created.tzinfo is not None
    assert (expires - created).total_seconds() == pytest.approx(SESSION_TTL_S, abs=1)

    state = await device_state(client, device_id)
    assert state["active_session_id"] == session["session_id"]
    assert state["active_persona_id"] == "storyteller"

    assert await _get(client, session["session_id"]) == session


async def test_a_new_session_becomes_the_active_one(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    first = await _create(client, device_id, "companion")
    second = await _create(client, device_id, "entertainer")
    state = await device_state(client, device_id)
    assert state["active_session_id"] == second["session_id"]
    assert state["active_persona_id"] == "entertainer"
    # A dialog without a session id now goes to the newest session, with its persona.
    reply = await client.post("/dialog/send", json={"device_id": device_id, "message": "quiz"})
    assert reply.json()["session_id"] == second["session_id"]
    assert reply.json()["persona_id"] == "entertainer"
    assert (await _get(client, first["session_id"]))["turns"] == 0


async def test_list_sessions_with_filters(client: httpx.AsyncClient) -> None:
    device_a, _ = await register(client)
    device_b, _ = await register(client)
    a1 = (await _create(client, device_a))["session_id"]
    a2 = (await _create(client, device_a, "storyteller"))["session_id"]
    b1 = (await _create(client, device_b))["session_id"]
    ended = await client.delete(f"/sessions/{a1}")
    assert ended.status_code == 200, ended.text

    assert await _ids(client, device_id=device_a) == {a1, a2}
    assert await _ids(client, device_id=device_b) == {b1}
    assert await _ids(client, device_id=device_a, status="active") == {a2}
    assert await _ids(client, device_id=device_a, status="ended") == {a1}
    everything = await _ids(client)
    assert {a1, a2, b1} <= everything
    ended_anywhere = await _ids(client, status="ended")
    assert a1 in ended_anywhere
    assert not {a2, b1} & ended_anywhere

    listing = (await client.get("/sessions", params={"device_id": device_a})).json()
    assert all(set(s) == SESSION_FIELDS for s in listing["sessions"])
    assert_error(await client.get("/sessions", params={"status": "sleeping"}), 422, "VALIDATION_ERROR")


async def test_end_session(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    device_id, _ = device
    session = await _create(client, device_id)
    await _say(client, device_id, session["session_id"])

    response = await client.delete(f"/sessions/{session['session_id']}")
    assert response.status_code == 200, response.text
    ended = response.json()
    assert ended["status"] == "ended"
    assert ended["ended_at"] is not None
    assert datetime.fromisoformat(ended["ended_at"]) >= datetime.fromisoformat(session["created_at"])
    assert ended["turns"] == 2
    assert await _get(client, session["session_id"]) == ended

    state = await device_state(client, device_id)
    assert state["active_session_id"] is None
    # Ending again changes nothing.
    again = await client.delete(f"/sessions/{session['session_id']}")
    assert again.status_code == 200, again.text
    assert again.json() == ended


async def test_ending_an_old_session_keeps_the_active_one(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    old = await _create(client, device_id)
    current = await _create(client, device_id)
    assert (await client.delete(f"/sessions/{old['session_id']}")).status_code == 200
    assert (await device_state(client, device_id))["active_session_id"] == current["session_id"]


async def test_unknown_persona_and_device(client: httpx.AsyncClient, device: tuple[str, str]) -> None:
    response = await client.post("/sessions", json={"device_id": device[0], "persona_id": "nobody"})
    body = assert_error(response, 404, "PERSONA_NOT_FOUND")
    assert body["details"] == {"requested_id": "nobody"}
    response = await client.post("/sessions", json={"device_id": "dev_nobody", "persona_id": "companion"})
    body = assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert body["details"] == {"device_id": "dev_nobody"}
    assert_error(await client.get("/sessions/sess_nothing"), 404, "SESSION_NOT_FOUND")
    assert_error(await client.delete("/sessions/sess_nothing"), 404, "SESSION_NOT_FOUND")
    assert (await device_state(client, device[0]))["active_session_id"] is None


async def test_a_device_token_reaches_only_its_own_sessions(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, token = await register(client)
    other_id, _ = await register(client)
    others = (await _create(client, other_id))["session_id"]
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=server.api_url, headers=headers) as own:
        mine = await _create(own, device_id, "memory_keeper")
        assert mine["device_id"] == device_id
        assert (await _get(own, mine["session_id"]))["persona_id"] == "memory_keeper"

        create = await own.post("/sessions", json={"device_id": other_id, "persona_id": "companion"})
        assert_error(create, 403, "FORBIDDEN")
        # Another device's session is answered as one that does not exist (issue 12): 404, not 403.
        assert_error(await own.get(f"/sessions/{others}"), 404, "SESSION_NOT_FOUND")
        assert_error(await own.delete(f"/sessions/{others}"), 404, "SESSION_NOT_FOUND")
        assert_error(await own.get("/sessions", params={"device_id": device_id}), 403, "FORBIDDEN")
        handoff = await own.post(
            f"/sessions/{others}/handoff", json={"from_device_id": other_id, "to_device_id": device_id}
        )
        assert_error(handoff, 403, "FORBIDDEN")
        assert (await own.delete(f"/sessions/{mine['session_id']}")).json()["status"] == "ended"
    assert (await _get(client, others))["status"] == "active"
    assert (await _get(client, others))["device_id"] == other_id


# Handoff


async def test_handoff_moves_the_session_and_its_context(client: httpx.AsyncClient) -> None:
    bedroom, _ = await register(client, name="bedroom")
    kitchen, _ = await register(client, name="kitchen")
    session = await _create(client, bedroom, "memory_keeper")
    session_id = session["session_id"]
    await _say(client, bedroom, session_id, "I worked in a shop")
    assert (await _get(client, session_id))["turns"] == 2

    response = await client.post(
        f"/sessions/{session_id}/handoff",
        json={"from_device_id": bedroom, "to_device_id": kitchen, "notify_user": True},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["session_id"] == session_id
    assert result["from_device_id"] == bedroom
    assert result["to_device_id"] == kitchen
    assert result["persona_id"] == "memory_keeper"
    assert result["notified_device_ids"] == []  # neither device is connected
    assert datetime.fromisoformat(result["handed_off_at"]).tzinfo is not None

    moved = await _get(client, session_id)
    assert moved["device_id"] == kitchen
    assert moved["status"] == "active"
    assert moved["turns"] == 2
    assert (await device_state(client, bedroom))["active_session_id"] is None
    kitchen_state = await device_state(client, kitchen)
    assert kitchen_state["active_session_id"] == session_id
    assert kitchen_state["active_persona_id"] == "memory_keeper"

    reply = await _say(client, kitchen, session_id, "We sang while we worked")
    assert reply["session_id"] == session_id
    assert reply["persona_id"] == "memory_keeper"
    assert (await _get(client, session_id))["turns"] == 4
    # The session is on the kitchen device now, no longer the bedroom's.
    left_behind = await client.post(
        "/dialog/send", json={"device_id": bedroom, "session_id": session_id, "message": "Hello"}
    )
    assert_error(left_behind, 404, "SESSION_NOT_FOUND")  # no longer the bedroom's: as if it never was
    assert session_id in await _ids(client, device_id=kitchen)
    assert session_id not in await _ids(client, device_id=bedroom)


async def test_handoff_notifies_both_connected_devices(server: LiveServer, client: httpx.AsyncClient) -> None:
    bedroom = await register(client)
    kitchen = await register(client)
    session_id = (await _create(client, bedroom[0], "companion"))["session_id"]
    async with await connect(server, *bedroom) as on_bedroom, await connect(server, *kitchen) as on_kitchen:
        response = await client.post(
            f"/sessions/{session_id}/handoff",
            json={"from_device_id": bedroom[0], "to_device_id": kitchen[0], "notify_user": True},
        )
        assert response.status_code == 200, response.text
        assert sorted(response.json()["notified_device_ids"]) == sorted([bedroom[0], kitchen[0]])
        for socket, role in ((on_bedroom, "from"), (on_kitchen, "to")):
            event = await socket.expect("sync_event")
            payload = event["payload"]
            assert payload["event_type"] == "session_handoff"
            assert payload["role"] == role
            assert payload["session_id"] == session_id
            assert payload["from_device_id"] == bedroom[0]
            assert payload["to_device_id"] == kitchen[0]
            assert payload["persona_id"] == "companion"
            assert event["priority"] > 0


async def test_handoff_without_notification_sends_nothing(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    bedroom = await register(client)
    kitchen = await register(client)
    session_id = (await _create(client, bedroom[0]))["session_id"]
    async with await connect(server, *bedroom) as on_bedroom, await connect(server, *kitchen) as on_kitchen:
        response = await client.post(
            f"/sessions/{session_id}/handoff",
            json={"from_device_id": bedroom[0], "to_device_id": kitchen[0], "notify_user": False},
        )
        assert response.status_code == 200, response.text
        assert response.json()["notified_device_ids"] == []
        await assert_nothing_pending(on_bedroom)
        await assert_nothing_pending(on_kitchen)


async def test_handoff_from_the_wrong_device_is_409(client: httpx.AsyncClient) -> None:
    bedroom, _ = await register(client)
    kitchen, _ = await register(client)
    hallway, _ = await register(client)
    session_id = (await _create(client, bedroom))["session_id"]
    response = await client.post(
        f"/sessions/{session_id}/handoff", json={"from_device_id": hallway, "to_device_id": kitchen}
    )
    body = assert_error(response, 409, "CONFLICT")
    assert body["details"] == {"session_id": session_id, "from_device_id": hallway}  # bedroom not named
    assert (await _get(client, session_id))["device_id"] == bedroom
    assert (await device_state(client, kitchen))["active_session_id"] is None


async def test_handoff_to_an_unknown_device_is_404(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    session_id = (await _create(client, device_id))["session_id"]
    response = await client.post(
        f"/sessions/{session_id}/handoff", json={"from_device_id": device_id, "to_device_id": "dev_nobody"}
    )
    body = assert_error(response, 404, "DEVICE_NOT_FOUND")
    assert body["details"] == {"device_id": "dev_nobody"}
    assert (await _get(client, session_id))["device_id"] == device_id
    assert (await device_state(client, device_id))["active_session_id"] == session_id


async def test_handoff_of_unknown_or_ended_session(client: httpx.AsyncClient) -> None:
    bedroom, _ = await register(client)
    kitchen, _ = await register(client)
    route = {"from_device_id": bedroom, "to_device_id": kitchen}
    assert_error(await client.post("/sessions/sess_nothing/handoff", json=route), 404, "SESSION_NOT_FOUND")
    session_id = (await _create(client, bedroom))["session_id"]
    assert (await client.delete(f"/sessions/{session_id}")).status_code == 200
    response = await client.post(f"/sessions/{session_id}/handoff", json=route)
    body = assert_error(response, 410, "SESSION_EXPIRED")
    assert body["details"]["reason"] == "ended"
    assert (await device_state(client, kitchen))["active_session_id"] is None


async def test_session_context_holds_the_conversation(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    device_id, _ = device
    first = await client.post("/dialog/send", json={"device_id": device_id, "message": "Hello"})
    session_id = first.json()["session_id"]
    second = await client.post(
        "/dialog/send", json={"device_id": device_id, "message": "How are you?", "session_id": session_id}
    )
    context = (await client.get(f"/sessions/{session_id}/context")).json()
    assert context["session_id"] == session_id
    assert context["total"] == 4
    assert context["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": first.json()["response_text"]},
        {"role": "user", "content": "How are you?"},
        {"role": "assistant", "content": second.json()["response_text"]},
    ]
    assert_error(await client.get("/sessions/sess_missing/context"), 404, "SESSION_NOT_FOUND")
