"""Request bodies as the spec's users expect: unknown fields ignored, strict types, JSON only, free labels."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from tests.server.conftest import connect, register
from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer


def _fields(response: httpx.Response) -> list[str]:
    body = assert_error(response, 422, "VALIDATION_ERROR")
    return [problem["field"] for problem in body["details"]["errors"]]


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    response = await client.post("/devices", json={"name": "x", "device_type": "tablet", "colour": "red"})
    assert response.status_code == 201, response.text
    device = (await client.get(f"/devices/{response.json()['device_id']}")).json()
    assert "colour" not in device


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/devices/{id}/commands", {"type": "led_control", "priority": "5"}, "priority"),
        ("/devices/{id}/commands", {"type": "led_control", "priority": 5.5}, "priority"),
        ("/devices/{id}/commands", {"type": "led_control", "priority": True}, "priority"),
        (
            "/devices/{id}/persona/switch",
            {"target_persona_id": "companion", "preserve_context": 1},
            "preserve_context",
        ),
        (
            "/devices/{id}/persona/switch",
            {"target_persona_id": "companion", "preserve_context": "true"},
            "preserve_context",
        ),
        ("/devices", {"name": 5, "device_type": "tablet"}, "name"),
    ],
    ids=[
        "integer as text",
        "fraction",
        "boolean for integer",
        "1 for boolean",
        "text for boolean",
        "number for text",
    ],
)
async def test_wrong_types_are_refused_not_coerced(
    client: httpx.AsyncClient, device: tuple[str, str], path: str, body: dict[str, Any], field: str
) -> None:
    response = await client.post(path.format(id=device[0]), json=body)
    assert _fields(response) == [field]


async def test_an_integer_written_with_a_zero_fraction_is_an_integer(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    """JSON Schema counts `7.0` as an integer, so the server does too."""
    device = await register(client)
    async with await connect(server, *device) as socket:
        response = await client.post(
            f"/devices/{device[0]}/commands", json={"type": "led_control", "priority": 7.0}
        )
        assert response.status_code == 202, response.text
        assert response.json()["priority"] == 7
        assert (await socket.expect("led_control"))["priority"] == 7


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
async def test_a_body_not_labelled_json_is_415(client: httpx.AsyncClient, content_type: str) -> None:
    body = b'{"name": "x", "device_type": "tablet"}'
    response = await client.post("/devices", content=body, headers={"Content-Type": content_type})
    error = assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert error["details"] == {"content_type": content_type, "expected": "application/json"}
    assert "Content-Type: application/json" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json; charset=utf-8"},
        {"Content-Type": "application/merge-patch+json"},
    ],
    ids=["no label", "with charset", "+json"],
)
async def test_json_bodies_labelled_json_or_not_labelled_are_read(
    server: LiveServer, headers: dict[str, str]
) -> None:
    body = b'{"name": "x", "device_type": "tablet"}'
    # httpx adds no Content-Type to raw content on its own.
    async with httpx.AsyncClient(base_url=server.api_url, headers=server.operator_headers) as http:
        response = await http.post("/devices", content=body, headers=headers)
        assert response.status_code == 201, response.text
        assert response.request.headers.get("content-type") == headers.get("Content-Type")


async def test_body_rules_come_before_the_handler_on_every_body_operation(
    client: httpx.AsyncClient, device: tuple[str, str]
) -> None:
    for path in (
        "/devices",
        f"/devices/{device[0]}/commands",
        f"/devices/{device[0]}/persona/switch",
        "/dialog/send",
        "/sessions",
        "/sessions/sess_x/handoff",
        "/coordination/group-activity",
        "/coordination/broadcast",
    ):
        text = await client.post(path, content=b"{}", headers={"Content-Type": "text/plain"})
        assert_error(text, 415, "UNSUPPORTED_MEDIA_TYPE")
        assert_error(await client.post(path, content=b"{", headers={}), 400, "INVALID_JSON")


@pytest.fixture(params=["memory", "redis"])
def any_store(
    request: pytest.FixtureRequest, server_factory: Callable[..., AbstractContextManager[LiveServer]]
) -> Iterator[LiveServer]:
    """The server on each store backend: labels people choose are stored and matched the same in both."""
    overrides: dict[str, Any] = {}
    if request.param == "redis":
        redis_url: str = request.getfixturevalue("redis_url")
        overrides = {"redis_url": redis_url, "redis_key_prefix": f"t{secrets.token_hex(4)}:"}
    with server_factory(**overrides) as live:
        yield live


async def test_labels_people_choose_work_everywhere(any_store: LiveServer) -> None:
    group = f"Facility {secrets.token_hex(3)}"
    async with httpx.AsyncClient(base_url=any_store.api_url, headers=any_store.operator_headers) as http:
        device_id, token = await register(http, group_id=group)
        other_id, _ = await register(http, group_id="Facility other")

        listed = await http.get("/devices", params={"group_id": group})
        assert [d["device_id"] for d in listed.json()["devices"]] == [device_id]
        assert (await http.get(f"/devices/{device_id}")).json()["group_id"] == group

        session = await http.post(
            "/sessions", json={"device_id": device_id, "persona_id": "companion", "user_id": "Mrs Smith"}
        )
        assert session.status_code == 201, session.text
        assert (await http.get(f"/sessions/{session.json()['session_id']}")).json()["user_id"] == "Mrs Smith"

        async with await connect(any_store, device_id, token) as socket:
            broadcast = await http.post(
                "/coordination/broadcast",
                json={
                    "event_type": "medication reminder",
                    "target_devices": ["all"],
                    "group_id": group,
                    "payload": {"dose": "1 tablet"},
                },
            )
            assert broadcast.status_code == 200, broadcast.text
            assert broadcast.json()["delivered"] == [device_id]
            assert other_id not in broadcast.json()["offline"]
            event = await socket.expect("sync_event")
            assert event["payload"]["event_type"] == "medication reminder"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"group_id": "Facility\n001"}, "group_id"),
        ({"group_id": "Facility 001\n"}, "group_id"),
        ({"group_id": "bell\x07"}, "group_id"),
        ({"group_id": "x" * 65}, "group_id"),
        ({"group_id": ""}, "group_id"),
    ],
    ids=["inner newline", "trailing newline", "control character", "too long", "empty"],
)
async def test_labels_keep_their_limits(client: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    response = await client.post("/devices", json={"name": "x", "device_type": "tablet", **body})
    assert _fields(response) == [field]


async def test_server_chosen_ids_keep_their_pattern(client: httpx.AsyncClient) -> None:
    response = await client.post("/sessions", json={"device_id": "dev one", "persona_id": "companion"})
    assert _fields(response) == ["device_id"]
    response = await client.post("/sessions", json={"device_id": "dev_1\n", "persona_id": "companion"})
    assert _fields(response) == ["device_id"]


async def test_an_empty_transition_message_means_none(server: LiveServer, client: httpx.AsyncClient) -> None:
    device = await register(client)
    async with await connect(server, *device) as socket:
        response = await client.post(
            f"/devices/{device[0]}/persona/switch",
            json={"target_persona_id": "entertainer", "transition_message": ""},
        )
        assert response.status_code == 200, response.text
        command = await socket.expect("persona_switch")
        assert command["payload"]["persona_id"] == "entertainer"
        assert command["payload"]["transition_message"] is None


@pytest.mark.parametrize(
    "body",
    [{}, {"message": "Hello", "audio_base64": "UklGRg=="}, {"message": None, "audio_base64": None}],
    ids=["neither", "both", "both null"],
)
async def test_dialog_takes_exactly_one_of_message_and_audio(
    client: httpx.AsyncClient, device: tuple[str, str], body: dict[str, Any]
) -> None:
    response = await client.post("/dialog/send", json={"device_id": device[0], **body})
    assert _fields(response) == ["message", "audio_base64"]


@pytest.mark.parametrize("message", ["", "   ", "\n\t"], ids=["empty", "spaces", "whitespace"])
async def test_a_blank_dialog_message_is_refused(
    client: httpx.AsyncClient, device: tuple[str, str], message: str
) -> None:
    response = await client.post("/dialog/send", json={"device_id": device[0], "message": message})
    assert _fields(response) == ["message"]
