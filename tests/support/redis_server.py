"""Start a real `redis-server` on a free local port for the tests, and stop it afterwards."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

_START_TIMEOUT_S = 10.0
_ATTEMPTS = 3
"""A free port can be taken between choosing it and the server binding it; then try another."""


@contextmanager
def running_redis_server() -> Iterator[str]:
    """A throwaway redis-server (no persistence, in a temp dir); yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed; the state tests need a real one. "
            "Run scripts/install-system-packages.sh"
        )
    with tempfile.TemporaryDirectory(prefix="redis-test-") as workdir:
        process, url = _start(binary, workdir)
        try:
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _start(binary: str, workdir: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server and wait until it answers PING."""
    logfile = Path(workdir) / "redis.log"
    for _ in range(_ATTEMPTS):
        port = _free_port()
        command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        command += ["--dir", workdir, "--logfile", str(logfile)]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        if _answers_ping(process, url):
            return process, url
        process.kill()
        process.wait()
    log = logfile.read_text(errors="replace") if logfile.exists() else "(no log)"
    raise RuntimeError(f"redis-server did not start after {_ATTEMPTS} attempts; its log:\n{log}")


def _answers_ping(process: subprocess.Popen[bytes], url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + _START_TIMEOUT_S
    try:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.ping():
                    return True
            except redis.ConnectionError:
                time.sleep(0.02)
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RestartableRedis:
    """A redis-server a test can kill (SIGKILL: a crash) and start again on the same port, its data
    kept on disk (append-only, fsync'd on every write) as a production Redis keeps it."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run scripts/install-system-packages.sh")
        self._binary = binary
        self._workdir = workdir
        self._port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self._port}/0"

    def start(self) -> None:
        command = [self._binary, "--port", str(self._port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self._workdir)]
        command += ["--logfile", str(self._workdir / "redis.log")]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _answers_ping(self._process, self.url):
            self.kill()
            raise RuntimeError(f"redis-server did not start on port {self._port}")

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def pause(self) -> None:
        """Stop the process (SIGSTOP): a Redis that holds its connections and answers nothing."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
