"""The stock pipecat reference bot as a subprocess on a free loopback port, stopped on exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.lib.server_process import ROOT, ServerError, free_port, stop_process

STARTUP_TIMEOUT_S = 120.0
"""Importing pipecat, faster-whisper, Piper and onnxruntime takes seconds; more on a busy machine."""


@dataclass(frozen=True)
class RunningBot:
    pid: int
    base_url: str
    log_path: Path

    def health(self) -> dict[str, Any]:
        """`GET /health`: the connections served and the seconds each took to build its services."""
        with urllib.request.urlopen(self.base_url + "/health", timeout=10) as response:
            body: dict[str, Any] = json.loads(response.read())
            return body

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def running_reference_bot(
    *, cpu_prefix: Sequence[str] = (), startup_timeout_s: float = STARTUP_TIMEOUT_S
) -> Iterator[RunningBot]:
    """Start `python -m benchmarks.reference.pipecat_bot` (offline: `HF_HUB_OFFLINE=1`); stop it on exit."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryDirectory(prefix="pipecat-bot-") as state_dir:
        log_path = Path(state_dir) / "bot.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*cpu_prefix, sys.executable, "-m", "benchmarks.reference.pipecat_bot", "--port", str(port)],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            bot = RunningBot(pid=process.pid, base_url=f"http://127.0.0.1:{port}", log_path=log_path)
            try:
                _wait_healthy(bot, process, startup_timeout_s)
                yield bot
            finally:
                stop_process(process)


def _wait_healthy(bot: RunningBot, process: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerError(f"the pipecat bot exited with {process.returncode}:\n{bot.log_tail()}")
        try:
            bot.health()
            return
        except OSError:
            time.sleep(0.1)
    raise ServerError(f"the pipecat bot did not answer /health within {timeout_s:g} s:\n{bot.log_tail()}")
