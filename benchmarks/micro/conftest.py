"""Fixtures of the micro-benchmarks: one event loop the benchmarks own, and the server's real voice runtime.

Async code is benchmarked by running it on `loop` (uvloop, as `serve` runs the
server) from the benchmarked callable, so no benchmark pays for creating a
loop; each `run_until_complete` costs about 28 µs here, which
`test_graph_hop.py::test_loop_round_trip` measures on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import uvloop

from personas import load_library
from personas.factory import build_responder
from server.settings import Settings
from server.voice.runtime import VoiceRuntime


@pytest.fixture(scope="session")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = uvloop.new_event_loop()
    try:
        yield loop
    finally:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The defaults, as a server started with no configuration has them (no environment is read)."""
    return Settings()


@pytest.fixture(scope="session")
def runtime(loop: asyncio.AbstractEventLoop, settings: Settings) -> Iterator[VoiceRuntime]:
    """The engines and persona voices exactly as the server loads them at start-up (a few seconds).

    Responders are the offline scripted ones (no API key): nothing here waits on an LLM.
    """
    library = load_library()
    responders = {p.id: build_responder(p, anthropic_client=None) for p in library}
    voice = loop.run_until_complete(VoiceRuntime.load(settings, library, responders))
    try:
        yield voice
    finally:
        loop.run_until_complete(voice.close())
