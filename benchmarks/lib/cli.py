"""What every benchmark command does alike: the command line it was run with, milliseconds, the JSON,
and the end of a run (the report written out)."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import msgspec

R = TypeVar("R")


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


def finish(
    args: argparse.Namespace, report: R, markdown: Callable[[R], str], *, markdown_file: Path | None = None
) -> int:
    """The end of a benchmark command: the report as JSON at `--json` (when given, and said on
    stderr), its Markdown on stdout and, with `markdown_file`, there too; 0, the exit status."""
    if args.json:
        write_json(args.json, report)
        print(f"written to {args.json}", file=sys.stderr)
    text = markdown(report)
    print(text)
    if markdown_file is not None:
        markdown_file.write_text(text + "\n")
    return 0
