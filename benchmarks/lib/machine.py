"""What a benchmark ran on: CPU, cores, kernel, Python, the libraries on the request path, the commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import msgspec

PACKAGES = ("litestar", "uvicorn", "msgspec", "uvloop", "httptools", "pyjwt", "redis")
VOICE_PACKAGES = (
    "litestar",
    "uvicorn",
    "uvloop",
    "websockets",
    "pipecat-ai",
    "faster-whisper",
    "ctranslate2",
    "onnxruntime",
    "piper-tts",
    "numpy",
)
"""The libraries on the audio path, for the voice benchmarks' reports."""


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    cpu_model: str
    cores: int
    kernel: str
    python: str
    packages: dict[str, str]
    git_commit: str


def describe_machine(repo: Path, packages: tuple[str, ...] = PACKAGES) -> Machine:
    return Machine(
        cpu_model=cpu_model(),
        cores=os.cpu_count() or 0,
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        packages={name: _version(name) for name in packages},
        git_commit=git_commit(repo),
    )


def cpu_model() -> str:
    """The `model name` of /proc/cpuinfo (the processor of the first core), or what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit(repo: Path) -> str:
    """HEAD's short hash, with "+dirty" when tracked files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"
