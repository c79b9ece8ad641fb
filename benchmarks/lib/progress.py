"""A plain-text progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, total: int, label: str, *, stream: TextIO | None = None, width: int = 30) -> None:
        self._total = max(1, total)
        self._label = label
        self._stream = stream or sys.stderr
        self._width = width
        self._done = 0
        self._started = time.monotonic()
        self._tty = self._stream.isatty()
        self._last_tenth = -1

    def advance(self, note: str = "") -> None:
        """One more unit done; `note` (e.g. the latest figure) is shown after the bar."""
        self._done = min(self._total, self._done + 1)
        tenth = 10 * self._done // self._total
        if not self._tty and tenth == self._last_tenth and self._done < self._total:
            return
        self._last_tenth = tenth
        filled = self._width * self._done // self._total
        bar = "#" * filled + "." * (self._width - filled)
        elapsed = time.monotonic() - self._started
        line = f"{self._label} [{bar}] {self._done}/{self._total} {elapsed:5.0f} s {note}"
        if self._tty:
            self._stream.write("\r" + line.ljust(100))
            if self._done == self._total:
                self._stream.write("\n")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
