"""§8.9: every error in the spec's body with a request id; bad input never gives a 5xx."""

from __future__ import annotations

import httpx
import pytest

from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer


async def test_every_response_carries_a_request_id(server: LiveServer, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=server.api_url) as anonymous:
        responses = [
            await anonymous.get("/health"),
            await anonymous.get("/devices"),
            await client.get("/personas"),
            await client.get("/no/such/path"),
        ]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(i.startswith("req_") for i in ids)
    assert len(set(ids)) == len(ids)


async def test_a_clients_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/personas/nobody", headers={"X-Request-ID": "trace-42.a_b"})
    body = assert_error(response, 404, "PERSONA_NOT_FOUND")
    assert body["request_id"] == "trace-42.a_b"
    # A request id that could smuggle anything into logs is replaced, not echoed.
    odd = await client.get("/personas", headers={"X-Request-ID": "x" * 65})
    assert odd.headers["x-request-id"].startswith("req_")


async def test_spec_example_persona_not_found(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/personas/invalid_id"), 404, "PERSONA_NOT_FOUND")
    assert body["message"] == "Persona 'invalid_id' does not exist"
    assert body["details"] == {"requested_id": "invalid_id"}


async def test_unknown_device_and_session(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/devices/dev_missing/state"), 404, "DEVICE_NOT_FOUND")
    assert body["details"] == {"device_id": "dev_missing"}
    assert_error(await client.get("/sessions/sess_missing"), 404, "SESSION_NOT_FOUND")


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/nowhere"), 404, "NOT_FOUND")
    assert_error(await client.put("/personas"), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    "raw",
    [b"{", b"not json", b'{"name": "x",}', b"\xff\xfe", b'{"name": "x"} trailing', b""],
    ids=["truncated", "text", "trailing comma", "bad utf-8", "trailing data", "empty"],
)
async def test_malformed_json_is_400(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/devices", content=raw, headers={"Content-Type": "application/json"})
    body = assert_error(response, 400, "INVALID_JSON")
    assert body["details"]["reason"]  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5, "device_type": "tablet"}, "name"),
        ({"name": "x", "device_type": "toaster"}, "device_type"),
        ({"name": "", "device_type": "tablet"}, "name"),
        ({"name": "x" * 101, "device_type": "tablet"}, "name"),
        ({"device_type": "tablet"}, "name"),
        ({"name": "x", "device_type": "tablet", "capabilities": "leds"}, "capabilities"),
        ({"name": "x", "device_type": "tablet", "capabilities": [""]}, "capabilities[0]"),
        ({"name": "x", "device_type": "tablet", "group_id": "ward\n7"}, "group_id"),
        ([], "body"),
    ],
    ids=[
        "wrong type",
        "unknown enum",
        "too short",
        "too long",
        "missing",
        "not a list",
        "empty list item",
        "control character",
        "array",
    ],
)
async def test_invalid_fields_are_422_naming_the_field(
    client: httpx.AsyncClient, body: object, field: str
) -> None:
    response = await client.post("/devices", json=body)
    error = assert_error(response, 422, "VALIDATION_ERROR")
    problems = error["details"]["errors"]  # type: ignore[index]
    assert problems[0]["field"] == field
    assert problems[0]["reason"]


async def test_oversize_body_is_413(server_factory) -> None:  # type: ignore[no-untyped-def]
    with server_factory(max_body_bytes=1024) as live:
        async with httpx.AsyncClient(base_url=live.api_url, headers=live.operator_headers) as http:
            big = {"name": "x", "device_type": "tablet", "location": "y" * 4096}
            assert_error(await http.post("/devices", json=big), 413, "PAYLOAD_TOO_LARGE")
            # The server is still fine afterwards.
            assert (await http.get("/personas")).status_code == 200


async def test_too_long_dialog_message_is_422(client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    response = await client.post("/dialog/send", json={"device_id": device_id, "message": "x" * 4001})
    error = assert_error(response, 422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "message"  # type: ignore[index]


async def test_bad_query_values_are_422(client: httpx.AsyncClient) -> None:
    error = assert_error(await client.get("/devices", params={"status": "sleepy"}), 422, "VALIDATION_ERROR")
    assert error["details"]["errors"][0]["field"] == "query.status"  # type: ignore[index]
