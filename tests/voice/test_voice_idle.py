"""Idle devices: connected, streaming digital silence in real time, they must cost the server little memory.

The live server runs in this process (a thread), so the process's resident
memory (from /proc/self/statm) is the server's plus the test's own clients:
an upper bound on what the server spends per idle device.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator

import pytest

from tests.server.helpers import poll
from tests.support.live_server import LiveServer
from tests.voice.conftest import FRAME_S, Microphone, VoiceDevice

pytestmark = pytest.mark.asyncio(loop_scope="module")

MB = 1024 * 1024
IDLE_DEVICES = 20
IDLE_S = 3.0
MAX_BYTES_PER_IDLE_DEVICE = 5 * MB
CYCLES = 3
DEVICES_PER_CYCLE = 10
CYCLE_IDLE_S = 1.0
MAX_GROWTH_LAST_CYCLE = 10 * MB


def rss_bytes() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        resident_pages = int(statm.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


@contextlib.asynccontextmanager
async def idle_devices(server: LiveServer, count: int, seconds: float) -> AsyncIterator[list[VoiceDevice]]:
    """`count` new devices that have streamed `seconds` of silence in real time, and go on in the block."""
    devices = list(await asyncio.gather(*(VoiceDevice.register(server) for _ in range(count))))
    try:
        async with contextlib.AsyncExitStack() as stack:
            microphones = [await stack.enter_async_context(Microphone(device)) for device in devices]

            async def sent() -> int:
                return min(microphone.frames_sent for microphone in microphones)

            await poll(sent, lambda n: n >= round(seconds / FRAME_S), within=seconds + 10)
            await asyncio.gather(*(device.heartbeat_acked() for device in devices))
            for device in devices:
                # Silence is not speech: nothing but the greeting and the heartbeat's answer.
                assert {m.type for m in device.messages} == {"connected", "heartbeat_ack"}, device.messages
            yield devices
    finally:
        await asyncio.gather(*(device.close() for device in devices))


async def test_idle_devices_cost_little_memory(voice_server: LiveServer) -> None:
    async with idle_devices(voice_server, 1, CYCLE_IDLE_S):
        pass  # first-use costs are not per device
    before = rss_bytes()
    async with idle_devices(voice_server, IDLE_DEVICES, IDLE_S):
        during = rss_bytes()
    per_device = (during - before) / IDLE_DEVICES
    print(
        f"\nRSS {before / MB:.1f} -> {during / MB:.1f} MB, {IDLE_DEVICES} idle: {per_device / MB:.2f} MB each"
    )
    assert per_device < MAX_BYTES_PER_IDLE_DEVICE


async def test_connect_disconnect_cycles_do_not_grow_memory(voice_server: LiveServer) -> None:
    after_cycle = []
    for _ in range(CYCLES):
        async with idle_devices(voice_server, DEVICES_PER_CYCLE, CYCLE_IDLE_S):
            pass
        after_cycle.append(rss_bytes())
    print(
        "\nRSS after each cycle of", DEVICES_PER_CYCLE, "devices:", [f"{b / MB:.1f} MB" for b in after_cycle]
    )
    assert after_cycle[-1] - after_cycle[-2] < MAX_GROWTH_LAST_CYCLE
