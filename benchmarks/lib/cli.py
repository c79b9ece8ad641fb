"""What every benchmark command does alike: the command line it was run with, milliseconds, the JSON."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """The command that reproduces this run: `.venv/bin/python -m <module>` with the arguments given."""
    given = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", "-m", module, *given])


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def write_json(path: Path, report: Any) -> None:
    """The report as indented JSON at `path` (its folder made if need be)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
