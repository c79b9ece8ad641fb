"""The persona switch report: every switch, percentiles of each measure, the server's in-graph swap times."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from benchmarks.lib.machine import VOICE_PACKAGES, Machine, describe_machine
from benchmarks.lib.report import SUMMARY_HEADER, cpu_line, header_line, summary_cells, table, title_lines
from benchmarks.lib.server_process import ROOT
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import CpuWindow

MEASURES = {
    "rest_switch_latency_ms": "(a) `switch_latency_ms` in the REST response (server, whole ms)",
    "request_ms": "(a) POST round trip (client)",
    "persona_switch_received_ms": "(b) `persona_switch` received by the device",
    "ack_recorded_ms": "(c) ack sent and handled by the server (heartbeat answered behind it)",
    "server_ack_ms": "(c) `acked_at - sent_at` of the command (server clock)",
    "stop_playback_received_ms": "old reply cut: `stop_playback` received (--during-reply)",
    "first_audio_ms": "(d) first audio of the transition message in the new voice",
}


class Switch(msgspec.Struct, kw_only=True):
    """One switch; client times in ms from the moment the POST was sent."""

    number: int
    warmup: bool
    from_persona: str
    to_persona: str
    rest_switch_latency_ms: float
    request_ms: float
    persona_switch_received_ms: float
    ack_recorded_ms: float
    server_ack_ms: float
    stop_playback_received_ms: float | None
    first_audio_ms: float


class SwitchReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    server: str
    personas: list[str]
    during_reply: bool
    warmup_switches: int
    measured_switches: int
    client_ms: dict[str, Summary]
    """Every measure over the measured switches."""
    in_graph_swaps_ms: dict[str, float] | None
    """`persona_swaps` of `GET /metrics/latency` after the run (all swaps, set-up and warm-up included)."""
    cpu: CpuWindow
    waited_for_quiet_s: float
    switches: list[Switch]


def build_report(
    *,
    command: str,
    server: str,
    personas: list[str],
    during_reply: bool,
    switches: list[Switch],
    swaps: dict[str, float] | None,
    cpu: CpuWindow,
    waited_s: float,
) -> SwitchReport:
    measured = [s for s in switches if not s.warmup]
    client_ms: dict[str, Summary] = {}
    for name in MEASURES:
        values = [v for s in measured if (v := getattr(s, name)) is not None]
        if summary := summarize(values):
            client_ms[name] = summary
    return SwitchReport(
        command=command,
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        server=server,
        personas=personas,
        during_reply=during_reply,
        warmup_switches=len(switches) - len(measured),
        measured_switches=len(measured),
        client_ms=client_ms,
        in_graph_swaps_ms=swaps,
        cpu=cpu,
        waited_for_quiet_s=waited_s,
        switches=switches,
    )


def markdown(report: SwitchReport) -> str:
    state = "each while the old persona was speaking" if report.during_reply else "listening, mic streaming"
    header = header_line(report.machine, report.generated_at, report.server)
    return "\n".join(
        [
            *title_lines("Persona switch", report.command, header),
            f"{report.measured_switches} switches between {' and '.join(report.personas)} on one live "
            f"device ({state}); {report.warmup_switches} warm-up switches excluded. Client times run from "
            "the moment the POST was sent.",
            "",
            *table(
                ["ms", *SUMMARY_HEADER],
                ([MEASURES[name], *summary_cells(s)] for name, s in report.client_ms.items()),
            ),
            "",
            _swaps_line(report.in_graph_swaps_ms),
            "",
            cpu_line(report.cpu),
        ]
    )


def _swaps_line(swaps: dict[str, float] | None) -> str:
    if not swaps:
        return "In-graph swap: the server reported none."
    return (
        f"In-graph swap (`GET /metrics/latency` `persona_swaps`: {swaps.get('count')} swaps, set-up and "
        f"warm-up included, nearest rank): p50 {swaps.get('p50_ms')} ms, p90 {swaps.get('p90_ms')} ms, "
        f"p99 {swaps.get('p99_ms')} ms."
    )
