"""Bounded connections and clean logs (issue 12), on the real server process as `companion-voice serve`
starts it: slow and idle sockets are closed, unfinished huge headers refused, idle sockets cannot use
up the file descriptors legitimate requests and device sockets need, and no token reaches the log."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from server.auth import TokenService
from server.paths import API_PREFIX
from tests.support.device_client import DeviceClient
from tests.support.live_server import TEST_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
REPLY_TIMEOUT_S = 20.0
"""How long a test waits for the server to answer or close: far past every deadline the tests set."""


@dataclass(frozen=True)
class Served:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{API_PREFIX}"

    def token(self, *, role: str = "operator", subject: str = "ops") -> str:
        tokens = TokenService(secret=TEST_SECRET, algorithm="HS256", issuer="companion-voice")
        return tokens.issue(role=role, subject=subject, ttl_s=3600).token  # type: ignore[arg-type]

    def stop(self) -> str:
        """Stop the server; everything it logged."""
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=20)
        return self.log.read_text(errors="replace")


@contextmanager
def served(
    state_dir: Path, *, open_files: tuple[int, int] | None = None, **settings: str
) -> Iterator[Served]:
    """`companion-voice serve` as a subprocess with these `COMPANION_*` settings, until the block ends;
    started with `open_files` (soft, hard) as its limit on open files, if given."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPANION_", "ANTHROPIC_"))}
    env.update(
        COMPANION_STATE_DIR=str(state_dir),
        COMPANION_JWT_SECRET=TEST_SECRET,
        COMPANION_PORT=str(port),
        COMPANION_VOICE_ENABLED="false",
        **{f"COMPANION_{name.upper()}": value for name, value in settings.items()},
    )
    log = state_dir / f"server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            _serve_command(open_files),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Served(process, port, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        server.stop()


def _serve_command(open_files: tuple[int, int] | None) -> list[str]:
    if open_files is None:
        return [sys.executable, "-m", "server.cli", "serve"]
    # The limit set in the child itself before the server starts (no preexec_fn: the tests run threads).
    start = (
        "import resource, runpy, sys; "
        f"resource.setrlimit(resource.RLIMIT_NOFILE, {open_files}); "
        "sys.argv = ['companion-voice', 'serve']; "
        "runpy.run_module('server.cli', run_name='__main__')"
    )
    return [sys.executable, "-c", start]


def _wait_until_up(server: Served) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited: {server.log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _reply_then_close(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails the test)."""
    sock.settimeout(REPLY_TIMEOUT_S)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _one_response(sock: socket.socket) -> bytes:
    """One whole response (head and `content-length` body) from a kept-alive connection."""
    sock.settimeout(REPLY_TIMEOUT_S)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += sock.recv(65536)
    return head + b"\r\n\r\n" + body


def _error_of(reply: bytes, status: int) -> dict[str, object]:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), reply[:200]
    assert b"connection: close" in head.lower()
    error: dict[str, object] = json.loads(body)
    assert set(error) == {"error_code", "message", "details", "request_id"}
    return error


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A server with short request deadlines and a small header cap."""
    with served(
        tmp_path_factory.mktemp("quick"),
        request_header_timeout_s="1",
        request_body_timeout_s="1",
        max_request_header_bytes="4096",
    ) as server:
        yield server


# Deadlines and the header cap


@pytest.mark.parametrize(
    "sent",
    [b"", b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"\r\n"],
    ids=["idle TCP", "slow-loris headers", "only blank lines"],
)
def test_a_request_whose_headers_never_finish_is_408_and_closed(quick: Served, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(sent)
        error = _error_of(_reply_then_close(sock), 408)
    assert error["error_code"] == "REQUEST_TIMEOUT"
    assert error["details"] == {"phase": "headers", "timeout_s": 1}


def test_a_keep_alive_connection_that_starts_a_request_and_stalls_is_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert _one_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")  # the next request, never finished
        assert _error_of(_reply_then_close(sock), 408)["error_code"] == "REQUEST_TIMEOUT"


def test_a_body_that_never_finishes_is_408_and_closed(quick: Served) -> None:
    head = (
        f"POST /v1/devices HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {quick.token()}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(head.encode() + b'{"name": "slow"')
        error = _error_of(_reply_then_close(sock), 408)
    assert error["details"] == {"phase": "body", "timeout_s": 1}


def test_an_unfinished_huge_header_is_431_and_closed(quick: Served) -> None:
    with socket.create_connection(("127.0.0.1", quick.port)) as sock:
        sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Huge: " + b"a" * 16384)
        error = _error_of(_reply_then_close(sock), 431)
    assert error["error_code"] == "REQUEST_HEADERS_TOO_LARGE"


def test_requests_within_the_limits_are_served_as_before(quick: Served) -> None:
    with httpx.Client(base_url=quick.api_url, timeout=10) as http:
        for _ in range(3):  # one keep-alive connection
            assert http.get("/health", headers={"X-Fine": "a" * 2000}).status_code == 200
        created = http.post(
            "/devices",
            json={"name": "fine", "device_type": "custom"},
            headers={"Authorization": f"Bearer {quick.token()}"},
        )
    assert created.status_code == 201, created.text


# File descriptors: idle attackers cannot starve legitimate requests and device sockets

FD_SOFT, FD_HARD = 128, 256
ATTACKERS = 300
"""Idle connections: more than the server's hard limit on open files."""


def _open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line in /proc/<pid>/limits")


@pytest.mark.skipif(not Path("/proc/self/limits").exists(), reason="reads /proc/<pid>/limits")
def test_idle_connections_past_the_fd_limit_do_not_starve_requests_or_device_sockets(
    tmp_path: Path,
) -> None:
    # Header deadlines far off: only the connection budget closes anything here.
    limits = {"request_header_timeout_s": "120"}
    with served(tmp_path, open_files=(FD_SOFT, FD_HARD), **limits) as server, ExitStack() as attackers:
        assert _open_files_limit(server.process.pid) == (FD_HARD, FD_HARD)
        operator = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.api_url, headers=operator, timeout=10) as http:
            created = http.post("/devices", json={"name": "hall", "device_type": "custom"})
        assert created.status_code == 201, created.text
        device = created.json()

        idle = []
        for n in range(ATTACKERS):
            sock = attackers.enter_context(socket.create_connection(("127.0.0.1", server.port)))
            if n % 2:
                sock.sendall(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")  # slow-loris: never finished
            idle.append(sock)

        # Fresh connections (no keep-alive): each one must be accepted and answered.
        with httpx.Client(base_url=server.api_url, headers=operator, timeout=REPLY_TIMEOUT_S) as http:
            for _ in range(5):
                response = http.get(f"/devices/{device['device_id']}/state", headers={"Connection": "close"})
                assert response.status_code == 200, response.text
        connected = asyncio.run(_device_connects(server, device["device_id"], device["auth_token"]))
        assert connected["type"] == "connected"
        # The room was made by closing the oldest idle connections, with a 503 in the spec's body.
        assert _error_of(_reply_then_close(idle[0]), 503)["error_code"] == "SERVER_BUSY"


async def _device_connects(server: Served, device_id: str, token: str) -> dict[str, object]:
    ws_url = f"ws://127.0.0.1:{server.port}"
    async with await DeviceClient.connect(ws_url, device_id, token) as device:
        return await device.receive()


# Logs


async def _device_round_trip(server: Served) -> tuple[str, str]:
    """Register a device, connect it with its token in the query, then in a header; both tokens."""
    operator = server.token()
    async with httpx.AsyncClient(
        base_url=server.api_url, headers={"Authorization": f"Bearer {operator}"}, timeout=10
    ) as http:
        created = (await http.post("/devices", json={"name": "hall", "device_type": "custom"})).json()
        assert (await http.get("/devices")).status_code == 200
    ws_url = f"ws://127.0.0.1:{server.port}"
    async with await DeviceClient.connect(ws_url, created["device_id"], created["auth_token"]) as device:
        await device.expect("connected")
        await device.send("heartbeat", {})
        await device.expect("heartbeat_ack")
    refused = await DeviceClient.connect(ws_url, created["device_id"], operator)  # the wrong role: 4403
    async with refused:
        await refused.expect("error")
    return created["auth_token"], operator


def test_no_token_reaches_the_log_at_debug(tmp_path: Path) -> None:
    with served(tmp_path, log_level="DEBUG") as server:
        device_token, operator_token = asyncio.run(_device_round_trip(server))
        log = server.stop()
    assert '"WebSocket /ws/' in log  # uvicorn's socket lines are there, with the query...
    assert "token=[redacted]" in log  # ...and the token taken out
    for token in (device_token, operator_token):
        assert token not in log
        for part in token.split(".")[1:]:  # nor its claims or signature (the header is the same for all)
            assert part not in log


def test_library_loggers_follow_the_log_level(tmp_path: Path) -> None:
    with served(tmp_path, log_level="WARNING") as server:
        asyncio.run(_device_round_trip(server))
        log = server.stop()
    # At INFO uvicorn, Litestar, our app and pipecat (through loguru) all log start-up lines.
    chatty = [line for line in log.splitlines() if " INFO " in line or "| INFO" in line or " DEBUG " in line]
    assert chatty == []
