"""The real app on a real socket: uvicorn in a background thread, on a free loopback port."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import uvicorn

from personas import PersonaLibrary
from server.app import create_app
from server.auth import Role, TokenService
from server.paths import API_PREFIX
from server.settings import Settings

TEST_SECRET = "test-secret-" + "x" * 40


@dataclass(frozen=True)
class LiveServer:
    settings: Settings
    base_url: str
    ws_url: str

    def token(self, *, role: Role = "operator", subject: str = "ops", ttl_s: int = 3600) -> str:
        tokens = TokenService(
            secret=self.settings.jwt_secret, algorithm="HS256", issuer=self.settings.jwt_issuer
        )
        return tokens.issue(role=role, subject=subject, ttl_s=ttl_s).token

    @property
    def api_url(self) -> str:
        """The REST API's base: paths like `/devices` are relative to it."""
        return self.base_url + API_PREFIX

    @property
    def operator_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(state_dir: Path, **overrides: Any) -> Settings:
    # The control-plane tests run without the voice models (they load in seconds, not milliseconds);
    # the voice tests turn them on.
    # The test redis-server keeps nothing on disk: allowed here explicitly (tests that check the
    # start-up refusal set it back to "aof").
    base = Settings(
        jwt_secret=TEST_SECRET,
        state_dir=state_dir,
        port=free_port(),
        voice_enabled=False,
        redis_require_persistence="none",
    )
    return msgspec.structs.replace(base, **overrides)


@contextmanager
def live_server(settings: Settings, *, personas: PersonaLibrary | None = None) -> Iterator[LiveServer]:
    """Serve `create_app(settings)` until the block ends; the lifespan runs as in production."""
    app = create_app(settings, personas=personas)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_level="warning",
        loop="asyncio",
        ws="websockets-sansio",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{settings.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield LiveServer(settings, f"http://127.0.0.1:{settings.port}", f"ws://127.0.0.1:{settings.port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
