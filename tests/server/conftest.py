"""Fixtures for end-to-end tests: the real app on a real socket, HTTP and WebSocket clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.device_client import DeviceClient
from tests.support.live_server import LiveServer, live_server, make_settings

ServerFactory = Callable[..., AbstractContextManager[LiveServer]]


@pytest.fixture
def server_factory(tmp_path: Path) -> ServerFactory:
    """Start a server with settings overrides: `with server_factory(session_ttl_s=1) as live: ...`."""

    def start(**overrides: Any) -> AbstractContextManager[LiveServer]:
        return live_server(make_settings(tmp_path, **overrides))

    return start


@pytest.fixture
def server(server_factory: ServerFactory) -> Iterator[LiveServer]:
    with server_factory() as live:
        yield live


def one_server_per_module() -> Callable[[pytest.TempPathFactory], Iterator[LiveServer]]:
    """A module's `server` fixture that starts one server for the whole module, to keep it fast
    (every test registers its own devices): `server = one_server_per_module()` in the module."""

    @pytest.fixture(scope="module")
    def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
        """One server for the module; every test registers its own devices."""
        with live_server(make_settings(tmp_path_factory.mktemp("state"))) as live:
            yield live

    return server


@pytest.fixture
async def client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An operator's HTTP client."""
    async with httpx.AsyncClient(
        base_url=server.api_url, headers=server.operator_headers, timeout=10
    ) as http:
        yield http


async def register(http: httpx.AsyncClient, **fields: Any) -> tuple[str, str]:
    """Register a device as an operator; returns its id and token."""
    body = {"name": "test-device", "device_type": "raspberry_pi", **fields}
    response = await http.post("/devices", json=body)
    assert response.status_code == 201, response.text
    data = response.json()
    return data["device_id"], data["auth_token"]


@pytest.fixture
async def device(client: httpx.AsyncClient) -> tuple[str, str]:
    return await register(client)


async def connect(server: LiveServer, device_id: str, token: str) -> DeviceClient:
    """Connect a device and wait for the server's `connected` message."""
    socket = await DeviceClient.connect(server.ws_url, device_id, token)
    await socket.expect("connected")
    return socket
