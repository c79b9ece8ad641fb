"""The one Markdown renderer every benchmark's report uses: title block, tables, percentile cells, the
machine, CPU and capacity lines.

A report is a list of lines joined by newlines; a table is a header, a rule and rows, each line
`| cell | cell |`. Cells are given as text, so each report keeps its own number formats.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from benchmarks.lib.machine import Machine
from benchmarks.lib.stats import Summary
from benchmarks.lib.targets import CpuWindow

Align = str
"""A column's rule: `---` (as written, left), or `---:` (right, for numbers)."""


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, align: Sequence[Align] = ()
) -> list[str]:
    """The lines of a Markdown table: `header`, its rule (`align`, `---` per column by default), `rows`."""
    rule = list(align) or ["---"] * len(header)
    return [_line(header), "|" + "|".join(rule) + "|", *(_line(r) for r in rows)]


def key_value_table(pairs: Iterable[tuple[str, object]]) -> list[str]:
    """The lines of a two-column table with no header: a name and its value per row."""
    return ["| | |", "|---|---|", *(_line(pair) for pair in pairs)]


SUMMARY_HEADER = ["n", "p50", "p90", "p99", "min", "max"]
"""The columns of `summary_cells`."""


def summary_cells(summary: Summary | None) -> list[str]:
    """A `Summary` as table cells: n, p50, p90, p99, min, max (`0` and dashes when there are no samples)."""
    if summary is None:
        return ["0", "-", "-", "-", "-", "-"]
    s = summary
    return [str(s.n), f"{s.p50:g}", f"{s.p90:g}", f"{s.p99:g}", f"{s.min:g}", f"{s.max:g}"]


def title_lines(title: str, command: str, header: str) -> list[str]:
    """A report's opening: its `## title`, the command that produced it, and `header` (see `header_line`)."""
    return [f"## {title}", "", f"`{command}`", "", header, ""]


def pct(part: int, whole: int) -> str:
    """`part` as a whole percentage of `whole` (`12 %`), or `-` when there is no whole."""
    return f"{100 * part / whole:.0f} %" if whole else "-"


def header_line(machine: Machine, generated_at: datetime, server: str) -> str:
    """When, on what, which commit, which server: the line under a report's title."""
    m = machine
    return (
        f"{generated_at:%Y-%m-%d %H:%M} UTC · {m.cpu_model}, {m.cores} cores · Python {m.python} · "
        f"commit {m.git_commit} · server {server}"
    )


def cpu_line(cpu: CpuWindow) -> str:
    server = f"server {cpu.server_pct:g} %, " if cpu.server_pct is not None else ""
    other = f", other work {cpu.other_pct:g} %" if cpu.other_pct is not None else ""
    return (
        f"CPU over the run ({cpu.seconds:g} s, percent of one core): {server}client {cpu.client_pct:g} %"
        f"{other}; load average {cpu.load_average_1m:g}."
    )


def capacity_ratio(
    counted: str,
    ours: int | None,
    pipecat: int | None,
    *,
    ours_never_failed: bool,
    pipecat_never_failed: bool,
) -> str:
    """One capacity line, this server beside stock pipecat: `counted` says what was counted ("idle
    devices kept up with"); the ratio is bounded when a ladder ended without a failing step."""
    if ours is None or pipecat is None:
        return (
            f"Capacity: this server {ours or 0}, stock pipecat {pipecat or 0} {counted}; "
            "no ratio (one of them kept up with none)."
        )
    if ours_never_failed and pipecat_never_failed:
        bound = " (neither failed a step: the ratio of the steps measured, not of the limits)"
    elif ours_never_failed:
        bound = " (a lower bound: this server kept up with every step measured)"
    elif pipecat_never_failed:
        bound = " (an upper bound: stock pipecat kept up with every step measured)"
    else:
        bound = ""
    times = ours / pipecat
    return f"Capacity: this server {ours}, stock pipecat {pipecat} {counted}: ratio {times:.3g}x{bound}."


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"
