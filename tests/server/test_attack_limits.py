"""One device's token cannot fill the server: bounded metadata, sessions per device, paged lists.

Each test plays the attack of issue 12 (a device with its own token creating sessions with
huge metadata, or many of them; an operator listing everything at once) against the real app
on a real socket, and checks the bound and its error in the spec's body.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest

from server.pagination import MAX_LIMIT
from tests.server.conftest import register
from tests.server.helpers import assert_error
from tests.support.live_server import LiveServer


def _device_http(server: LiveServer, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


async def _create(http: httpx.AsyncClient, device_id: str, **fields: Any) -> httpx.Response:
    return await http.post("/sessions", json={"device_id": device_id, "persona_id": "companion", **fields})


# Metadata


@pytest.mark.parametrize(
    ("metadata", "where"),
    [
        ({"note": "x" * 1_500_000}, "metadata[...]"),  # the finding: 1.7 MB of metadata per session
        ({f"k{n}": n for n in range(17)}, "metadata"),
        ({"a": {"b": {"c": 1}}}, "metadata[...][...]"),
        ({"a": [[1]]}, "metadata[...][0]"),
        ({"a": list(range(9))}, "metadata[...]"),
        ({"k" * 65: 1}, "metadata"),
    ],
    ids=["huge text", "too many keys", "too deep (object)", "too deep (list)", "long list", "long key"],
)
async def test_session_metadata_is_bounded_in_size_and_depth(
    server: LiveServer, client: httpx.AsyncClient, metadata: dict[str, Any], where: str
) -> None:
    device_id, token = await register(client)
    async with _device_http(server, token) as http:
        response = await _create(http, device_id, metadata=metadata)
    body = assert_error(response, 422, "VALIDATION_ERROR")
    error = body["details"]["errors"][0]
    # A key's own error is reported at the body, naming the place in its reason.
    assert error["field"] == where or error["reason"].endswith(f"in `$.{where}`"), body
    assert (await client.get("/sessions", params={"device_id": device_id})).json()["total"] == 0


async def test_session_metadata_within_bounds_is_kept_as_given(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    device_id, token = await register(client)
    metadata = {"room": "12", "flags": [True, None, 1.5, "x" * 200], "carer": {"name": "Ann", "shift": 2}}
    async with _device_http(server, token) as http:
        response = await _create(http, device_id, metadata=metadata)
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == metadata


# Sessions per device


async def test_a_device_has_at_most_its_open_sessions_and_ending_one_makes_room(
    server_factory: Callable[..., AbstractContextManager[LiveServer]],
) -> None:
    with server_factory(max_open_sessions_per_device=3) as server:
        async with httpx.AsyncClient(base_url=server.api_url, headers=server.operator_headers) as operator:
            device_id, token = await register(operator)
            other_id, _ = await register(operator)
            async with _device_http(server, token) as http:
                opened = [(await _create(http, device_id)).json()["session_id"] for _ in range(3)]
                refused = await _create(http, device_id)
                body = assert_error(refused, 409, "TOO_MANY_SESSIONS")
                assert body["details"] == {"device_id": device_id, "open_sessions": 3, "limit": 3}
                # Another device is not affected by this one's sessions.
                assert (await _create(operator, other_id)).status_code == 201
                assert (await http.delete(f"/sessions/{opened[0]}")).status_code == 200
                assert (await _create(http, device_id)).status_code == 201
            listed = (await operator.get("/sessions", params={"device_id": device_id})).json()
            assert listed["total"] == 4


async def test_creating_and_ending_sessions_in_a_loop_is_limited_per_hour(
    server_factory: Callable[..., AbstractContextManager[LiveServer]],
) -> None:
    with server_factory(sessions_per_device_per_hour=5) as server:
        async with httpx.AsyncClient(base_url=server.api_url, headers=server.operator_headers) as operator:
            device_id, token = await register(operator)
            async with _device_http(server, token) as http:
                for _ in range(5):
                    created = await _create(http, device_id)
                    assert created.status_code == 201, created.text
                    assert (await http.delete(f"/sessions/{created.json()['session_id']}")).status_code == 200
                refused = await _create(http, device_id)
            body = assert_error(refused, 429, "RATE_LIMITED")
            assert body["details"]["limit_per_hour"] == 5
            assert int(refused.headers["retry-after"]) >= 1
            listed = (await operator.get("/sessions", params={"device_id": device_id})).json()
            assert listed["total"] == 5


# Paged lists


async def _all_pages(http: httpx.AsyncClient, path: str, field: str, **params: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get(path, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body[field])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_sessions_are_listed_a_page_at_a_time_without_repeats_or_gaps(
    server: LiveServer, client: httpx.AsyncClient
) -> None:
    ids = []
    for _ in range(3):
        device_id, _ = await register(client)
        for _ in range(3):
            ids.append((await _create(client, device_id)).json()["session_id"])
    first = (await client.get("/sessions")).json()
    assert first["total"] == 9
    assert first["next_cursor"] is None
    assert len(first["sessions"]) == 9
    pages = await _all_pages(client, "/sessions", "sessions", limit=4)
    assert [len(p) for p in pages] == [4, 4, 1]
    assert [s["session_id"] for p in pages for s in p] == ids  # oldest first, each once
    # A session created between two pages is listed on a later page; none is repeated or skipped.
    page_one = (await client.get("/sessions", params={"limit": 4})).json()
    assert page_one["total"] == 9
    ids.append((await _create(client, device_id)).json()["session_id"])
    rest = await _all_pages(client, "/sessions", "sessions", limit=4, cursor=page_one["next_cursor"])
    assert [s["session_id"] for s in page_one["sessions"]] + [s["session_id"] for p in rest for s in p] == ids


async def test_devices_and_personas_are_paged_the_same_way(client: httpx.AsyncClient) -> None:
    registered = [(await register(client, name=f"dev-{n}"))[0] for n in range(5)]
    pages = await _all_pages(client, "/devices", "devices", limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [d["device_id"] for p in pages for d in p] == registered
    personas = (await client.get("/personas")).json()
    paged = await _all_pages(client, "/personas", "personas", limit=2)
    assert [p["id"] for page in paged for p in page] == sorted(p["id"] for p in personas["personas"])
    assert personas["total"] == len(personas["personas"])
    assert personas["next_cursor"] is None


async def test_a_sessions_context_is_paged(server: LiveServer, client: httpx.AsyncClient) -> None:
    device_id, _ = await register(client)
    for text in ("Hello", "How are you?", "Thank you"):
        response = await client.post("/dialog/send", json={"device_id": device_id, "message": text})
        assert response.status_code == 200, response.text
    session_id = response.json()["session_id"]
    whole = (await client.get(f"/sessions/{session_id}/context")).json()
    assert whole["total"] == 6
    assert whole["next_cursor"] is None
    pages = await _all_pages(client, f"/sessions/{session_id}/context", "messages", limit=4)
    assert [m for p in pages for m in p] == whole["messages"]
    assert [len(p) for p in pages] == [4, 2]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": MAX_LIMIT + 1},
        {"limit": "ten"},
        {"cursor": "not a cursor!"},
        {"cursor": "abcde"},
    ],
    ids=["limit 0", "limit over the maximum", "limit not a number", "cursor not base64url", "cursor length"],
)
@pytest.mark.parametrize("path", ["/sessions", "/devices", "/personas"])
async def test_bad_paging_parameters_are_a_validation_error(
    client: httpx.AsyncClient, path: str, params: dict[str, Any]
) -> None:
    response = await client.get(path, params=params)
    assert_error(response, 422, "VALIDATION_ERROR")


async def test_a_cursor_from_elsewhere_is_a_position_not_an_error(client: httpx.AsyncClient) -> None:
    await register(client)
    response = await client.get("/devices", params={"cursor": "zzzz"})  # after every key: an empty page
    assert response.status_code == 200, response.text
    assert response.json()["devices"] == []
    assert response.json()["total"] == 1
