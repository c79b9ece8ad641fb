"""Drive `wrk`: write its Lua script, run it, read back the numbers it reports.

The script's `done()` hook prints wrk's own summary (request count, duration,
socket errors, responses with status > 399) and latency percentiles as one
JSON line after the usual `--latency` report, so nothing is re-derived from
the human-readable text and its mixed units.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import msgspec

RESULT_MARKER = "WRK_RESULT "
PERCENTILES = (50, 75, 90, 99, 99.9)

_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({%(percentiles)s}) do
    table.insert(p, string.format('"%%s": %%d', tostring(q), latency:percentile(q)))
  end
  io.write(string.format(
    '%(marker)s{"requests": %%d, "duration_us": %%d, "bytes": %%d, '
    .. '"errors": {"connect": %%d, "read": %%d, "write": %%d, "status": %%d, "timeout": %%d}, '
    .. '"latency_us": {"min": %%d, "mean": %%.1f, "max": %%d, "percentiles": {%%s}}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, table.concat(p, ", ")))
end
"""


class Request(msgspec.Struct, frozen=True, kw_only=True):
    """One request, repeated by every connection for the whole run."""

    method: str
    path: str
    headers: dict[str, str] = {}
    body: bytes | None = None


class Errors(msgspec.Struct, frozen=True):
    """wrk's error counters; `status` counts responses with a status above 399."""

    connect: int
    read: int
    write: int
    status: int
    timeout: int

    @property
    def socket(self) -> int:
        return self.connect + self.read + self.write + self.timeout


class Latency(msgspec.Struct, frozen=True):
    """Latencies in microseconds; `percentiles` keyed by wrk's own label ("50", "99.9")."""

    min: int
    mean: float
    max: int
    percentiles: dict[str, int]

    def ms(self, percentile: float) -> float:
        return self.percentiles[_label(percentile)] / 1000.0


class WrkResult(msgspec.Struct, frozen=True):
    requests: int
    duration_us: int
    bytes: int
    errors: Errors
    latency_us: Latency

    @property
    def requests_per_s(self) -> float:
        return self.requests / (self.duration_us / 1e6) if self.duration_us else 0.0


class WrkRun(msgspec.Struct, frozen=True):
    """The command run, what wrk printed, and the numbers read from it."""

    command: list[str]
    output: str
    result: WrkResult


class WrkError(Exception):
    """wrk failed to run or printed no result (e.g. its script did not load); `output` is what it printed."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


def lua_script(request: Request) -> str:
    """A wrk script sending `request` on every connection and reporting with `done()`."""
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    if request.body is not None:
        lines.append(f"wrk.body = {_lua_string(request.body.decode())}")
    lines += [f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in request.headers.items()]
    hook = _DONE_HOOK % {
        "percentiles": ", ".join(_label(p) for p in PERCENTILES),
        "marker": RESULT_MARKER,
    }
    return "\n".join(lines) + "\n" + hook


def run_wrk(
    *,
    url: str,
    script: Path,
    threads: int,
    connections: int,
    duration_s: int,
    cpu_prefix: list[str],
) -> WrkRun:
    """Run wrk once with `--latency`; raises `WrkError` if it fails or prints no result line."""
    command = [
        *cpu_prefix,
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    output = completed.stdout + completed.stderr
    if completed.returncode != 0:
        raise WrkError(f"wrk exited with {completed.returncode}", output)
    return WrkRun(command=command, output=output, result=parse_result(output))


def parse_result(output: str) -> WrkResult:
    """The result line the `done()` hook printed."""
    for line in output.splitlines():
        if line.startswith(RESULT_MARKER):
            return msgspec.convert(json.loads(line.removeprefix(RESULT_MARKER)), WrkResult)
    raise WrkError("wrk printed no result line (did its Lua script fail?)", output)


def wrk_version() -> str:
    """wrk's first line of `--version` (it exits non-zero after printing its usage)."""
    completed = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first_line = (completed.stdout or completed.stderr).splitlines()[0]
    return first_line.split(" Copyright")[0].strip()


def _label(percentile: float) -> str:
    return f"{percentile:g}"


def _lua_string(value: str) -> str:
    """A Lua long-bracket string literal that cannot be closed by `value` itself."""
    level = 0
    while f"]{'=' * level}]" in value:
        level += 1
    eq = "=" * level
    return f"[{eq}[{value}]{eq}]"
