"""The alerts benchmark's Markdown, through the shared renderer."""

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
    from benchmarks.alerts.measure import Report

TITLE = "Alerts from what residents say, and the operator event stream"


def markdown(report: Report) -> str:
    header = header_line(report.machine, report.generated_at, "started by the benchmark")
    lines = title_lines(TITLE, report.command, header)
    lines += key_value_table(report.settings.items())
    align = ["---", *["---:"] * len(SUMMARY_HEADER)]
    if report.latency is not None:
        latency = report.latency
        lines += ["", "End of speech (in the audio) → alert, ms (voice models, real-time microphone):", ""]
        rows = [
            ["signed webhook at the receiver", *summary_cells(latency.webhook)],
            ["`alert` event at an SSE subscriber", *summary_cells(latency.stream)],
            *[[f"webhook, `{name}` only", *summary_cells(s)] for name, s in latency.webhook_by_clip.items()],
        ]
        lines += table(["to", *SUMMARY_HEADER], rows, align=align)
        lines += [
            "",
            f"- {latency.turns} turns, {latency.missed} without a webhook; "
            f"signatures valid: {latency.signatures_ok}. {cpu_line(latency.cpu)}",
        ]
    if report.fanout is not None:
        fan = report.fanout
        expected = fan.subscribers * fan.events
        lines += [
            "",
            f"Fan-out: {fan.events} events to {fan.subscribers} SSE subscribers, ms from the event's `at`:",
            "",
        ]
        lines += table(
            ["delivery", *SUMMARY_HEADER], [["event → subscriber", *summary_cells(fan.delay)]], align=align
        )
        lines += ["", f"- delivered {fan.delivered} of {expected}. {cpu_line(fan.cpu)}"]
    if report.false_positives is not None:
        fp = report.false_positives
        lines += [
            "",
            "False positives of the shipped rules:",
            "",
            f"- spoken ordinary turns (as recognised): {fp.spoken_alerts} alerts in {fp.spoken_turns} turns"
            + "".join(f"\n  - {line}" for line in fp.spoken_fired),
            f"- text lines (references, persona lines, test dialog): {len(fp.text_fired)} in {fp.text_lines}"
            + "".join(f"\n  - {line}" for line in fp.text_fired),
            "- alert fixtures as heard: "
            + "; ".join(f"{name}: {', '.join(rules) or 'none'}" for name, rules in fp.alert_fixtures.items()),
        ]
    return "\n".join(lines)
