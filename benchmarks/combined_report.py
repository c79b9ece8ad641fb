"""REPORT.md for `python -m benchmarks`: the machine, then each benchmark's table, command and plots.

Built from what the runner left in its output directory: `run.json` (what
each section ran, when, and whether it failed), each section's Markdown (what
the benchmark printed) and JSON (for the plots, and the micro-benchmarks'
table), so it can be rebuilt without running anything again.
"""

from __future__ import annotations

import json
import os
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from benchmarks.lib.machine import PACKAGES, VOICE_PACKAGES, Machine, describe_machine
from benchmarks.lib.report import key_value_table, table
from benchmarks.lib.server_process import ROOT

if TYPE_CHECKING:
    from benchmarks.lib.plots import Plot

LOG_TAIL_LINES = 15
REPORT_PACKAGES = tuple(dict.fromkeys((*VOICE_PACKAGES, *PACKAGES, "pytest-benchmark", "matplotlib")))


class SectionRun(msgspec.Struct, kw_only=True):
    """What one benchmark did the last time the runner ran it."""

    name: str
    title: str
    mode: str
    """`quick` or `full`."""
    command: str
    """Exactly what ran, from the repository root."""
    json: str
    markdown: str
    log: str
    exit_code: int
    ok: bool
    failure: str | None
    started_at: datetime
    seconds: float


class RunManifest(msgspec.Struct, kw_only=True):
    sections: dict[str, SectionRun]


def write_report(out: Path, manifest: RunManifest, *, argv: list[str], table_from_json: set[str]) -> Path:
    """Draw the plots and write `out/REPORT.md`; its path. `table_from_json`: sections (pytest-benchmark)
    whose table is made from their JSON rather than from what they printed."""
    from benchmarks.lib.plots import render  # matplotlib is the `bench` extra: import it only when drawing

    runs = list(manifest.sections.values())
    plots, results = render([out / run.json for run in runs if (out / run.json).exists()], out / "plots")
    lines = [
        "# Benchmark report",
        "",
        f"`{shlex.join(['.venv/bin/python', '-m', 'benchmarks', *argv])}` · written "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC into `{_shown(out)}`",
        "",
        *_failures(runs),
        *(f"> **No plot from `{path.name}`**: {reason}.\n" for path, reason in results.skipped),
        "Every latency figure excludes warm-up (each section states how much) and is given as percentiles, "
        "the median first, never a mean alone. Client and server share this machine over loopback; how "
        "each benchmark measures and its caveats: `benchmarks/README.md`.",
        "",
        *machine_lines(describe_machine(ROOT, REPORT_PACKAGES)),
        "",
        "## Sections",
        "",
        *table(
            ["section", "status", "mode", "run at (UTC)", "seconds", "JSON"],
            (_index_cells(run) for run in runs),
        ),
    ]
    for run in runs:
        pictures = [plot for plot in plots if out / run.json in plot.sources]
        lines += ["", *_section(out, run, pictures, from_json=run.name in table_from_json)]
    path = out / "REPORT.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def machine_lines(machine: Machine) -> list[str]:
    packages = ", ".join(f"{name} {version}" for name, version in machine.packages.items())
    load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    return [
        "## Machine",
        "",
        *key_value_table(
            [
                ("CPU", f"{machine.cpu_model}, {machine.cores} cores"),
                ("memory", _memory()),
                ("kernel", machine.kernel),
                ("Python", machine.python),
                ("commit", machine.git_commit),
                ("packages", packages),
                ("load average (1 / 5 / 15 min) at the end", load),
            ]
        ),
    ]


def micro_table(path: Path) -> str:
    """pytest-benchmark's JSON as a table: median and IQR first, in µs."""
    document = json.loads(path.read_text())
    rows = []
    for bench in sorted(document.get("benchmarks", []), key=lambda b: b.get("fullname", b.get("name", ""))):
        s = bench.get("stats") or {}
        times = [_us(s.get(name)) for name in ("median", "iqr", "min", "max")]
        rows.append([f"`{bench.get('name')}`", *times, s.get("rounds", "-")])
    return "\n".join(
        [
            *table(["benchmark", "median µs", "IQR µs", "min µs", "max µs", "rounds"], rows),
            "",
            f"pytest-benchmark {document.get('version', '?')}; warm-up and calibration as it chose them. "
            "Full statistics in the JSON.",
        ]
    )


def _section(out: Path, run: SectionRun, plots: list[Plot], *, from_json: bool) -> list[str]:
    status = "ok" if run.ok else f"**FAILED: {run.failure}**"
    lines = [
        f"## {run.title}",
        "",
        f"Status: {status} · {run.mode} · {run.started_at:%Y-%m-%d %H:%M} UTC · {run.seconds:g} s · "
        f"JSON `{run.json}` · log `{run.log}`",
        "",
        "Reproduce:",
        "",
        "```sh",
        run.command,
        "```",
        "",
    ]
    for plot in plots:
        lines += [f"![{plot.title}]({os.path.relpath(plot.path, out)})", ""]
    body = _body(out, run, from_json=from_json)
    if body:
        lines += [_demoted(body), ""]
    if not run.ok:
        lines += [f"Last lines of `{run.log}`:", "", "```", *_tail(out / run.log), "```"]
    return lines


def _body(out: Path, run: SectionRun, *, from_json: bool) -> str:
    if from_json:
        path = out / run.json
        return micro_table(path) if path.exists() else ""
    path = out / run.markdown
    return path.read_text().strip() if path.exists() else ""


def _demoted(markdown: str) -> str:
    """A benchmark's own headings one level down, under the section's."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def _failures(runs: list[SectionRun]) -> list[str]:
    failed = [run for run in runs if not run.ok]
    if not failed:
        return []
    names = ", ".join(f"{run.name} ({run.failure})" for run in failed)
    return [f"> **FAILED: {names}.** Their figures below are missing or partial.", ""]


def _index_cells(run: SectionRun) -> list[str]:
    status = "ok" if run.ok else "**FAILED**"
    return [
        run.title,
        status,
        run.mode,
        f"{run.started_at:%Y-%m-%d %H:%M}",
        f"{run.seconds:g}",
        f"`{run.json}`",
    ]


def _tail(path: Path) -> list[str]:
    if not path.exists():
        return ["(no log)"]
    return path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.3g}"


def _shown(path: Path) -> str:
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)
