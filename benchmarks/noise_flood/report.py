"""The noise-flood benchmark's Markdown, through the shared renderer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.lib.report import (
    SUMMARY_HEADER,
    cpu_line,
    header_line,
    key_value_table,
    summary_cells,
    table,
    title_lines,
)

if TYPE_CHECKING:
    from benchmarks.noise_flood.flood import Report

TITLE = "Another device's voice turn during a REST noise flood"


def markdown(report: Report) -> str:
    lines = title_lines(
        TITLE, report.command, header_line(report.machine, report.generated_at, report.server)
    )
    lines += key_value_table(report.settings.items())
    lines += [
        "",
        "Voice-to-voice of the talking device (ms), end of its speech to the first reply audio:",
        "",
    ]
    rows = [[phase.name, *summary_cells(phase.summary)] for phase in report.phases]
    lines += table(["phase", *SUMMARY_HEADER], rows, align=["---", *["---:"] * len(SUMMARY_HEADER)])
    lines += ["", "End of speech to the final transcript of those turns (ms, the server's `latency_ms`):", ""]
    rows = [[phase.name, *summary_cells(phase.server_asr_ms)] for phase in report.phases]
    lines += table(["phase", *SUMMARY_HEADER], rows, align=["---", *["---:"] * len(SUMMARY_HEADER)])
    lines += [""]
    for phase in report.phases:
        answers = ", ".join(f"{label}: {count}" for label, count in phase.flood_answers.items()) or "none"
        lines += [f"- {phase.name}: flood answers {answers}. {cpu_line(phase.cpu)}"]
    return "\n".join(lines)
