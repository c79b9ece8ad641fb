"""The idle capacity report: per step, the server's CPU and memory and whether it kept up."""

from __future__ import annotations

from datetime import datetime

import msgspec

from benchmarks.idle_fleet import Window
from benchmarks.machine import Machine
from benchmarks.stats import Summary, summarize
from benchmarks.voice_report import header_line
from benchmarks.voice_target import CpuWindow


class Step(msgspec.Struct, kw_only=True):
    devices: int
    connect_s: float
    """Seconds it took to connect the devices this step added."""
    cpu: CpuWindow
    rss_mb: float
    """VmRSS at the end of the window."""
    peak_rss_mb: float
    """The highest VmRSS sampled (once a second) during the window."""
    rss_per_device_kb: float | None
    """(RSS at N - RSS with no device) / N."""
    heartbeat_rtt_ms: Summary | None
    heartbeats_sent: int
    heartbeats_answered: int
    closed_sockets: list[str]
    client_late_ticks: int
    """20 ms ticks the client began more than 20 ms late (it fell behind real time)."""
    client_max_lateness_ms: float
    client_max_tick_ms: float
    keeps_up: bool
    """Every heartbeat answered within the limit, no socket closed, and the client kept real time."""
    verdict: str


class IdleReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    pinning: str
    audio: str
    duration_s: int
    settle_s: float
    heartbeat_every_s: float
    rtt_limit_ms: float
    waited_for_quiet_s: float
    rss_zero_mb: float
    """Server VmRSS with the models loaded and no device connected."""
    rss_after_disconnect_mb: float
    """Server VmRSS once every device has disconnected again."""
    steps: list[Step]


def step_of(
    *,
    devices: int,
    connect_s: float,
    cpu: CpuWindow,
    rss_kb: int,
    peak_rss_kb: int,
    rss_zero_kb: int,
    window: Window,
    closed: list[str],
    rtt_limit_ms: float,
) -> Step:
    rtt = summarize(window.rtts_ms)
    answered = len(window.rtts_ms)
    verdict = _verdict(window, closed, rtt, rtt_limit_ms)
    return Step(
        devices=devices,
        connect_s=connect_s,
        cpu=cpu,
        rss_mb=round(rss_kb / 1024, 1),
        peak_rss_mb=round(peak_rss_kb / 1024, 1),
        rss_per_device_kb=round((rss_kb - rss_zero_kb) / devices, 1) if devices else None,
        heartbeat_rtt_ms=rtt,
        heartbeats_sent=window.heartbeats_sent,
        heartbeats_answered=answered,
        closed_sockets=closed,
        client_late_ticks=window.late_ticks,
        client_max_lateness_ms=window.max_lateness_ms,
        client_max_tick_ms=window.max_tick_ms,
        keeps_up=verdict == "keeps up",
        verdict=verdict,
    )


def _verdict(window: Window, closed: list[str], rtt: Summary | None, limit_ms: float) -> str:
    if closed:
        return f"FAILED: {len(closed)} socket(s) closed ({closed[0]})"
    if len(window.rtts_ms) < window.heartbeats_sent:
        return f"FAILED: {window.heartbeats_sent - len(window.rtts_ms)} heartbeat(s) unanswered"
    if rtt is not None and rtt.max >= limit_ms:
        return f"FAILED: heartbeat round trip up to {rtt.max:g} ms (limit {limit_ms:g})"
    if window.late_ticks and window.heartbeats_sent:
        return f"INCONCLUSIVE: the client fell behind real time ({window.late_ticks} late ticks)"
    return "keeps up"


def markdown(report: IdleReport) -> str:
    lines = [
        "## Idle capacity",
        "",
        f"`{report.command}`",
        "",
        header_line(report.machine, report.generated_at, "started by the benchmark"),
        "",
        f"Devices stream {report.audio} in 20 ms binary frames, in real time, from one client process; "
        f"{report.pinning}. Each step settles {report.settle_s:g} s, then is measured for "
        f"{report.duration_s} s. A heartbeat per device every {report.heartbeat_every_s:g} s; keeping up "
        f"means every one answered within {report.rtt_limit_ms:g} ms and no socket closed.",
        "",
        "| devices | server CPU (% of a core) | RSS (MB) | RSS per device (KB) "
        "| heartbeat RTT p50 / p99 / max (ms) | answered | client CPU % | other CPU % "
        "| client max late (ms) | verdict |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(_row(step) for step in report.steps),
        "",
        f"RSS with no device: {report.rss_zero_mb:g} MB; after every device disconnected: "
        f"{report.rss_after_disconnect_mb:g} MB.",
    ]
    return "\n".join(lines)


def _row(step: Step) -> str:
    rtt = step.heartbeat_rtt_ms
    rtts = f"{rtt.p50:g} / {rtt.p99:g} / {rtt.max:g}" if rtt else "-"
    per_device = f"{step.rss_per_device_kb:g}" if step.rss_per_device_kb is not None else "-"
    cpu = step.cpu
    return (
        f"| {step.devices} | {cpu.server_pct} | {step.rss_mb:g} | {per_device} | {rtts} "
        f"| {step.heartbeats_answered}/{step.heartbeats_sent} | {cpu.client_pct:g} | {cpu.other_pct} "
        f"| {step.client_max_lateness_ms:g} | {step.verdict} |"
    )
