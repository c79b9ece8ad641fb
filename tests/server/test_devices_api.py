"""§8.3 device endpoints and the operator's additions (list, get, deregister)."""

from __future__ import annotations

from datetime import datetime

import httpx

from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer


async def test_register_returns_the_spec_fields(server: LiveServer, client: httpx.AsyncClient) -> None:
    body = {
        "name": "living-room-companion",
        "device_type": "raspberry_pi",
        "location": "Living Room",
        "group_id": "facility-001",
        "capabilities": ["audio_input", "audio_output", "buttons", "leds"],
    }
    response = await client.post("/devices", json=body)
    assert response.status_code == 201
    data = response.json()
    assert set(data) == {"device_id", "auth_token", "websocket_url", "created_at"}
    assert data["device_id"].startswith("dev_")
    assert data["websocket_url"] == f"{server.ws_url}/ws/{data['device_id']}"
    assert datetime.fromisoformat(data["created_at"]).tzinfo is not None
    info = (await client.get(f"/devices/{data['device_id']}")).json()
    assert info["name"] == "living-room-companion"
    assert info["capabilities"] == body["capabilities"]
    assert info["group_id"] == "facility-001"


async def test_default_capabilities(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    info = (await client.get(f"/devices/{device_id}")).json()
    assert info["capabilities"] == ["audio_input", "audio_output"]


async def test_websocket_url_uses_the_public_base_url(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory(public_base_url="https://voice.example.org/") as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            data = (await http.post("/devices", json={"name": "x", "device_type": "tablet"})).json()
    assert data["websocket_url"] == f"wss://voice.example.org/ws/{data['device_id']}"


async def test_state_of_a_new_device(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    state = (await client.get(f"/devices/{device_id}/state")).json()
    assert state["device_id"] == device_id
    assert state["status"] == "offline"
    assert state["active_persona_id"] == "companion"  # the default persona: the one it would answer with
    assert state["active_session_id"] is None
    assert state["metrics"] == {"uptime_hours": 0.0, "interactions_today": 0, "avg_response_latency_ms": None}


async def test_metrics_come_from_real_turns(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    for text in ("Hello", "How are you?", "Tell me something"):
        response = await client.post("/dialog/send", json={"device_id": device_id, "message": text})
        assert response.status_code == 200
    state = (await client.get(f"/devices/{device_id}/state")).json()
    assert state["metrics"]["interactions_today"] == 3
    assert isinstance(state["metrics"]["avg_response_latency_ms"], int)
    assert state["active_persona_id"] == "companion"
    assert state["active_session_id"].startswith("sess_")


async def test_list_filters_by_group_and_status(client: httpx.AsyncClient) -> None:
    a, _ = await register(client, group_id="ward-a")
    b, _ = await register(client, group_id="ward-b")
    everything = (await client.get("/devices")).json()
    assert everything["total"] == 2
    assert [d["device_id"] for d in everything["devices"]] == [a, b]
    ward_a = (await client.get("/devices", params={"group_id": "ward-a"})).json()
    assert [d["device_id"] for d in ward_a["devices"]] == [a]
    online = (await client.get("/devices", params={"status": "online"})).json()
    assert online == {"devices": [], "total": 0, "next_cursor": None}


async def test_deregister(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    assert (await client.delete(f"/devices/{device_id}")).status_code == 204
    assert_error(await client.get(f"/devices/{device_id}/state"), 404, "DEVICE_NOT_FOUND")
    assert_error(await client.delete(f"/devices/{device_id}"), 404, "DEVICE_NOT_FOUND")
    assert (await client.get("/devices")).json()["total"] == 0
