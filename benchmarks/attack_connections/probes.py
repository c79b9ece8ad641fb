"""What a legitimate client does meanwhile: REST requests, each on a fresh connection, and device
sockets connecting until the server's `connected` message. Each is timed, or counted as failed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

from benchmarks.lib.device import DeviceSocket
from server.paths import API_PREFIX

PROBE_TIMEOUT_S = 5.0
"""A legitimate request or connect not done within this long counts as failed."""


@dataclass
class ProbeResults:
    rest_ms: list[float] = field(default_factory=list)
    rest_failures: list[str] = field(default_factory=list)
    ws_ms: list[float] = field(default_factory=list)
    ws_failures: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Legit:
    base_url: str
    operator_token: str
    device_id: str
    device_token: str
    http: httpx.AsyncClient
    """Keeps no connection alive: every request opens a fresh one, as a new client would."""

    async def rest(self, results: ProbeResults) -> None:
        """`GET /devices/{id}/state` with the device's token, on a new connection (no keep-alive)."""
        started = time.perf_counter()
        try:
            response = await self.http.get(f"/devices/{self.device_id}/state")
            if response.status_code != 200:
                results.rest_failures.append(f"HTTP {response.status_code}")
                return
        except httpx.HTTPError as exc:
            results.rest_failures.append(type(exc).__name__)
            return
        results.rest_ms.append((time.perf_counter() - started) * 1000)

    async def connect(self, results: ProbeResults) -> None:
        """The device's socket, from opening the TCP connection to the server's `connected` message."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_S):
                device = await DeviceSocket.connect(self.base_url, self.device_id, self.device_token)
                await device.close()
        except Exception as exc:  # a refused, reset or timed-out connect is what is counted here
            results.ws_failures.append(type(exc).__name__)
            return
        results.ws_ms.append((time.perf_counter() - started) * 1000)


def fresh_connection_client(base_url: str, device_token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url + API_PREFIX,
        headers={"Authorization": f"Bearer {device_token}"},
        timeout=PROBE_TIMEOUT_S,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
    )


async def probe(legit: Legit, *, seconds: float, every_s: float) -> ProbeResults:
    """A REST request and a device connect every `every_s` for `seconds`, one after the other."""
    results = ProbeResults()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick = time.monotonic()
        await legit.rest(results)
        await legit.connect(results)
        await asyncio.sleep(max(0.0, every_s - (time.monotonic() - tick)))
    return results
