"""The device capacity report: per step, the server's CPU and memory and whether it kept up."""

from __future__ import annotations

from datetime import datetime

import msgspec

from benchmarks.idle_fleet import Window
from benchmarks.machine import Machine
from benchmarks.stats import Summary, summarize
from benchmarks.voice_report import header_line
from benchmarks.voice_target import CpuWindow

KEEPS_UP = "keeps up"


class Step(msgspec.Struct, kw_only=True):
    devices: int
    connect_s: float
    """Seconds it took to connect the devices this step added."""
    cpu: CpuWindow
    server_cpu_per_device_pct: float | None = None
    """Server CPU (percent of one core) / devices."""
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
    utterances: int = 0
    """Speech mode: utterances whose speech ended in the window."""
    replies: int = 0
    """Speech mode: of those, the ones whose reply audio came."""
    missed_replies: int = 0
    reply_ms: Summary | None = None
    """Speech mode: end of speech (as the device captured it) → first reply audio received."""
    keeps_up: bool
    """Every heartbeat answered within the limit, no socket closed, the client kept real time, and in
    speech mode every utterance answered."""
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
    speech: bool = False
    """Devices said fixtures in a loop (each after the previous reply had played) rather than idling."""
    speech_gap_s: float | None = None
    reply_timeout_s: float | None = None
    until_fails: bool = False
    """The run stopped after the first step that did not keep up."""
    capacity: int | None = None
    """The largest step kept up with, every smaller step kept up too; None if the first did not."""


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
    speech: bool = False,
) -> Step:
    rtt = summarize(window.rtts_ms)
    answered = len(window.rtts_ms)
    verdict = _verdict(window, closed, rtt, rtt_limit_ms) or (_speech_verdict(window) if speech else None)
    per_device = cpu.server_pct / devices if devices and cpu.server_pct is not None else None
    return Step(
        devices=devices,
        connect_s=connect_s,
        cpu=cpu,
        server_cpu_per_device_pct=round(per_device, 2) if per_device is not None else None,
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
        utterances=window.utterances,
        replies=len(window.reply_ms),
        missed_replies=window.missed_replies,
        reply_ms=summarize(window.reply_ms),
        keeps_up=verdict is None,
        verdict=verdict or KEEPS_UP,
    )


def capacity_of(steps: list[Step]) -> int | None:
    """The largest device count kept up with, every smaller step having kept up too."""
    capacity = None
    for step in steps:
        if not step.keeps_up:
            break
        capacity = step.devices or None  # 0 devices kept up with says nothing about capacity
    return capacity


def _speech_verdict(window: Window) -> str | None:
    if window.missed_replies:
        return (
            f"FAILED: {window.missed_replies} of {window.utterances} utterance(s) got no reply audio in time"
        )
    if not window.reply_ms and window.utterances == 0:
        return "INCONCLUSIVE: no utterance ended in the window (make --duration longer)"
    return None


def _verdict(window: Window, closed: list[str], rtt: Summary | None, limit_ms: float) -> str | None:
    if closed:
        return f"FAILED: {len(closed)} socket(s) closed ({closed[0]})"
    if len(window.rtts_ms) < window.heartbeats_sent:
        return f"FAILED: {window.heartbeats_sent - len(window.rtts_ms)} heartbeat(s) unanswered"
    if rtt is not None and rtt.max >= limit_ms:
        return f"FAILED: heartbeat round trip up to {rtt.max:g} ms (limit {limit_ms:g})"
    if client_fell_behind(window) and window.heartbeats_sent:
        return (
            f"INCONCLUSIVE: the client fell behind real time ({window.late_ticks} of {window.ticks} ticks "
            f"late, up to {window.max_lateness_ms:g} ms)"
        )
    return None


CLIENT_LATE_TICKS_FRACTION = 0.01
CLIENT_MAX_LATENESS_MS = 100.0


def client_fell_behind(window: Window) -> bool:
    """Whether the client's own lateness could hide a slow server. A late tick is caught up (every
    frame is still sent, in a burst, which is harder on the server, not easier), so an odd late tick
    changes nothing; the step is in doubt when more than 1 % of the ticks were late or the client was
    ever more than 100 ms behind."""
    return (
        window.late_ticks > CLIENT_LATE_TICKS_FRACTION * max(window.ticks, 1)
        or window.max_lateness_ms > CLIENT_MAX_LATENESS_MS
    )


def markdown(report: IdleReport) -> str:
    speech = report.speech
    lines = [
        "## Device capacity: speech" if speech else "## Idle capacity",
        "",
        f"`{report.command}`",
        "",
        header_line(report.machine, report.generated_at, "started by the benchmark"),
        "",
        f"Devices stream {report.audio} in 20 ms binary frames, in real time, from one client process; "
        f"{report.pinning}. Each step settles {report.settle_s:g} s (not measured: the warm-up), then is "
        f"measured for {report.duration_s} s. A heartbeat per device every {report.heartbeat_every_s:g} s; "
        f"keeping up means every one answered within {report.rtt_limit_ms:g} ms and no socket closed"
        + (
            f", and every utterance answered with audio within {report.reply_timeout_s or 0:g} s."
            if speech
            else "."
        )
        + " The client catches up on a late tick (every frame is sent); a step is inconclusive when more "
        "than 1 % of its ticks were late or it was ever over 100 ms behind.",
        "",
        "| devices | server CPU (% of a core) | CPU per device | RSS (MB) | RSS per device (KB) "
        "| heartbeat RTT p50 / p99 / max (ms) | answered "
        + ("| replies | reply p50 / p90 / max (ms) " if speech else "")
        + "| client CPU % | other CPU % | client max late (ms) | verdict |",
        "|---|---|---|---|---|---|---|" + ("---|---|" if speech else "") + "---|---|---|---|",
        *(_row(step, speech=speech) for step in report.steps),
        "",
        _capacity_line(report),
        "",
        f"RSS with no device: {report.rss_zero_mb:g} MB; after every device disconnected: "
        f"{report.rss_after_disconnect_mb:g} MB. CPU per device is the server's CPU over the step / devices.",
    ]
    return "\n".join(lines)


def _capacity_line(report: IdleReport) -> str:
    failed = next((step for step in report.steps if not step.keeps_up), None)
    if failed is None:
        top = report.steps[-1].devices if report.steps else 0
        return f"**Kept up with every step measured, up to {top} devices** (the limit may be higher)."
    if report.capacity is None:
        return f"**Did not keep up even with {failed.devices} device(s)**: {failed.verdict}."
    return f"**Keeps up with {report.capacity} devices**; at {failed.devices}: {failed.verdict}" + (
        " (the run stopped there)." if report.until_fails else "."
    )


def _row(step: Step, *, speech: bool) -> str:
    rtt = step.heartbeat_rtt_ms
    rtts = f"{rtt.p50:g} / {rtt.p99:g} / {rtt.max:g}" if rtt else "-"
    per_device = f"{step.rss_per_device_kb:g}" if step.rss_per_device_kb is not None else "-"
    cpu_each = f"{step.server_cpu_per_device_pct:g}" if step.server_cpu_per_device_pct is not None else "-"
    cpu = step.cpu
    replies = ""
    if speech:
        reply = step.reply_ms
        times = f"{reply.p50:g} / {reply.p90:g} / {reply.max:g}" if reply else "-"
        replies = f"| {step.replies}/{step.utterances} | {times} "
    return (
        f"| {step.devices} | {cpu.server_pct} | {cpu_each} | {step.rss_mb:g} | {per_device} | {rtts} "
        f"| {step.heartbeats_answered}/{step.heartbeats_sent} {replies}| {cpu.client_pct:g} "
        f"| {cpu.other_pct} | {step.client_max_lateness_ms:g} | {step.verdict} |"
    )
