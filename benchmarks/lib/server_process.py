"""The real server as a subprocess, with a throwaway secret and state dir, and a client for set-up.

Nothing in the caller's `COMPANION_*` or `ANTHROPIC_*` environment reaches the
server: a benchmark must not talk to a real LLM or an unrelated Redis by accident.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from server.paths import API_PREFIX

ROOT = Path(__file__).resolve().parents[2]
_STRIPPED_PREFIXES = ("COMPANION_", "ANTHROPIC_")
SERVE_ARGS = ("-m", "server.cli", "serve")


class ServerError(Exception):
    """The server did not start, or a set-up request failed."""


class RunningServer:
    """A started server: its process id, base URL, environment (for the CLI) and log file."""

    def __init__(self, *, pid: int, base_url: str, env: dict[str, str], log_path: Path) -> None:
        self.pid = pid
        self.base_url = base_url
        self.api_url = base_url + API_PREFIX
        """The REST API's base; `request` paths are relative to it."""
        self.env = env
        self.log_path = log_path

    def operator_token(self) -> str:
        """An operator token from `companion-voice token`, run with the server's own environment."""
        completed = subprocess.run(
            [sys.executable, "-m", "server.cli", "token", "--subject", "benchmark"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise ServerError(f"companion-voice token failed: {completed.stderr.strip()}")
        return completed.stdout.strip()

    def request(
        self, method: str, path: str, *, token: str | None = None, body: bytes | None = None
    ) -> tuple[int, Any]:
        """One request with urllib; the status and the decoded JSON body (None when empty)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.api_url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                return response.status, _json(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, _json(exc.read())

    def register_device(self, token: str) -> str:
        """Register a benchmark device; its id."""
        body = json.dumps({"name": "benchmark", "device_type": "custom"}).encode()
        status, payload = self.request("POST", "/devices", token=token, body=body)
        if status != 201:
            raise ServerError(f"POST /devices answered {status}: {payload}")
        return str(payload["device_id"])

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_server(
    *,
    extra_env: Mapping[str, str],
    cpu_prefix: list[str],
    startup_timeout_s: float = 60.0,
    module_args: Sequence[str] = SERVE_ARGS,
) -> Iterator[RunningServer]:
    """Start `companion-voice serve` (one uvicorn worker) on a free loopback port; stop it on exit.

    `module_args` run instead of `-m server.cli serve` (e.g. a wrapper that instruments `serve`)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="companion-bench-") as state_dir:
        env = server_env(state_dir=Path(state_dir), port=port, extra=extra_env)
        log_path = Path(state_dir) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*cpu_prefix, sys.executable, *module_args],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            server = RunningServer(
                pid=process.pid, base_url=f"http://127.0.0.1:{port}", env=env, log_path=log_path
            )
            try:
                _wait_healthy(server, process, startup_timeout_s)
                yield server
            finally:
                stop_process(process)


def server_env(*, state_dir: Path, port: int, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment without its server settings, plus a fresh secret, state dir and port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIPPED_PREFIXES)}
    env.update(
        COMPANION_JWT_SECRET=secrets.token_urlsafe(48),
        COMPANION_STATE_DIR=str(state_dir),
        COMPANION_HOST="127.0.0.1",
        COMPANION_PORT=str(port),
    )
    env.update(extra)
    return env


def _wait_healthy(server: RunningServer, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            status, _ = server.request("GET", "/health")
            if status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise ServerError(f"the server did not answer /health within {timeout_s:g} s:\n{server.log_tail()}")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (a graceful shutdown), then SIGKILL if it has not exited within 15 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _json(raw: bytes) -> Any:
    return json.loads(raw) if raw else None
