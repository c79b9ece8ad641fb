"""The device capacity report: per step, the server's CPU and memory and whether it kept up.

For this server, keeping up is read from heartbeats; the stock pipecat
reference bot has none, so there it is read from a probe (`Probe`): one of the
step's devices says a fixture after the window and must get reply audio in
time. `capacity_comparison` states the ratio of the two runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from benchmarks.idle.window import Window
from benchmarks.lib.device import CONNECT_TIMEOUT_S
from benchmarks.lib.machine import Machine
from benchmarks.lib.report import capacity_ratio, header_line, table, title_lines
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import CpuWindow, TargetKind

KEEPS_UP = "keeps up"
CLIENT_LATE_TICKS_FRACTION = 0.01
CLIENT_MAX_LATENESS_MS = 100.0
CLIENT_LATENESS_RULE = (
    "The client catches up on a late tick (every frame is sent); a step is inconclusive when more than "
    f"{CLIENT_LATE_TICKS_FRACTION * 100:g} % of its ticks were late or it was ever over "
    f"{CLIENT_MAX_LATENESS_MS:g} ms behind."
)


class Probe(msgspec.Struct, kw_only=True):
    """Stock pipecat: one of the step's devices says a fixture after the window (its voice-to-voice)."""

    voice_to_voice_ms: float | None
    """End of speech → first reply audio; None when the turn failed. Negative when the bot ended the
    turn early, at a pause inside the utterance, and its reply began before the speech had ended
    (`cut_early`: then it is no time to compare)."""
    error: str | None = None
    """Why the turn failed, as a sentence about the probe: no reply audio in time, a reply that never
    ended, a closed socket."""
    heard: list[str] | None = None
    """What the bot said it heard in the turn (its final transcriptions), when the turn was answered."""

    @property
    def cut_early(self) -> bool:
        return self.voice_to_voice_ms is not None and self.voice_to_voice_ms < 0


class Step(msgspec.Struct, kw_only=True):
    devices: int
    connect_s: float
    """Seconds it took to connect the devices this step added."""
    slowest_connect_s: float | None = None
    """The longest one of those connections took (for stock pipecat: until its RTVI `bot-ready`)."""
    connect_failures: list[str] = msgspec.field(default_factory=list)
    """Why each connection this step tried and could not open failed (the client gives each
    `CONNECT_TIMEOUT_S`)."""
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
    probe: Probe | None = None
    """Stock pipecat: the turn said after the window."""
    keeps_up: bool
    """Every connection opened, no socket closed, every heartbeat answered within the limit, the client
    kept real time, in speech mode every utterance answered, and for stock pipecat the probe answered."""
    verdict: str


class IdleReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    pinning: str
    audio: str
    duration_s: int
    settle_s: float
    heartbeat_every_s: float | None
    """None for stock pipecat, which has no heartbeat (nor, then, `rtt_limit_ms`)."""
    rtt_limit_ms: float | None
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
    """Speech mode: for every utterance; stock pipecat: for the probe."""
    until_fails: bool = False
    """The run stopped after the first step that did not keep up."""
    capacity: int | None = None
    """The largest step kept up with, every smaller step kept up too; None if the first did not."""
    target: TargetKind = "ours"
    """This server, or the stock pipecat reference bot (`benchmarks.reference`)."""
    probe_clip: str | None = None
    """Stock pipecat: the fixture the probe says after each window."""
    max_rss_gib: float | None = None
    """The ladder does not go to a step whose projected RSS exceeds this."""
    stopped: str | None = None
    """Why the ladder stopped before its last step, if not for a failed step (`--until-fails`): the
    projected RSS of the next step was over `max_rss_gib`."""
    comparison: list[str] = msgspec.field(default_factory=list)
    """Stock pipecat, given this server's run (`--compare`): the ratios `capacity_comparison` states."""


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
    rtt_limit_ms: float | None,
    speech: bool = False,
    slowest_connect_s: float | None = None,
    connect_failures: Sequence[str] = (),
    probe: Probe | None = None,
) -> Step:
    """One step's figures and verdict. `probe` is given for stock pipecat (then no heartbeats were
    sent, and the probe's turn decides along with the connections and sockets)."""
    rtt = summarize(window.rtts_ms)
    answered = len(window.rtts_ms)
    verdict = (
        _verdict(window, closed, rtt, rtt_limit_ms, connect_failures, probing=probe is not None)
        or (_speech_verdict(window) if speech else None)
        or (_probe_verdict(probe) if probe is not None else None)
    )
    per_device = cpu.server_pct / devices if devices and cpu.server_pct is not None else None
    return Step(
        devices=devices,
        connect_s=connect_s,
        slowest_connect_s=slowest_connect_s,
        connect_failures=list(connect_failures),
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
        probe=probe,
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


def _probe_verdict(probe: Probe) -> str | None:
    if probe.voice_to_voice_ms is None:
        return f"FAILED: {probe.error or 'the probe got no reply'}"
    return None


def _verdict(
    window: Window,
    closed: list[str],
    rtt: Summary | None,
    limit_ms: float | None,
    connect_failures: Sequence[str],
    *,
    probing: bool,
) -> str | None:
    if connect_failures:
        return f"FAILED: {len(connect_failures)} connection(s) not opened ({connect_failures[0]})"
    if closed:
        return f"FAILED: {len(closed)} socket(s) closed ({closed[0]})"
    if len(window.rtts_ms) < window.heartbeats_sent:
        return f"FAILED: {window.heartbeats_sent - len(window.rtts_ms)} heartbeat(s) unanswered"
    if rtt is not None and limit_ms is not None and rtt.max >= limit_ms:
        return f"FAILED: heartbeat round trip up to {rtt.max:g} ms (limit {limit_ms:g})"
    if client_fell_behind(window) and (window.heartbeats_sent or probing):
        return (
            f"INCONCLUSIVE: the client fell behind real time ({window.late_ticks} of {window.ticks} ticks "
            f"late, up to {window.max_lateness_ms:g} ms)"
        )
    return None


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
    if report.target == "pipecat":
        return _pipecat_markdown(report)
    speech = report.speech
    header = header_line(report.machine, report.generated_at, "started by the benchmark")
    lines = [
        *title_lines("Device capacity: speech" if speech else "Idle capacity", report.command, header),
        f"Devices stream {report.audio} in 20 ms binary frames, in real time, from one client process; "
        f"{report.pinning}. Each step settles {report.settle_s:g} s (not measured: the warm-up), then is "
        f"measured for {report.duration_s} s. A heartbeat per device every {report.heartbeat_every_s:g} s; "
        f"keeping up means every one answered within {report.rtt_limit_ms:g} ms and no socket closed"
        + (
            f", and every utterance answered with audio within {report.reply_timeout_s or 0:g} s."
            if speech
            else "."
        )
        + " "
        + CLIENT_LATENESS_RULE,
        "",
        *table(
            [
                *("devices", "server CPU (% of a core)", "CPU per device", "RSS (MB)", "RSS per device (KB)"),
                *("heartbeat RTT p50 / p99 / max (ms)", "answered"),
                *(("replies", "reply p50 / p90 / max (ms)") if speech else ()),
                *("client CPU %", "other CPU %", "client max late (ms)", "verdict"),
            ],
            (_cells(step, speech=speech) for step in report.steps),
        ),
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
        if report.stopped:
            return f"**Kept up with every step measured, up to {top} devices**; {report.stopped}."
        return f"**Kept up with every step measured, up to {top} devices** (the limit may be higher)."
    then = f" Then {report.stopped}." if report.stopped else ""
    if report.capacity is None:
        return f"**Did not keep up even with {failed.devices} device(s)**: {failed.verdict}.{then}"
    return (
        f"**Keeps up with {report.capacity} devices**; at {failed.devices}: {failed.verdict}"
        + (" (the run stopped there)." if report.until_fails else ".")
        + then
    )


def _cells(step: Step, *, speech: bool) -> list[object]:
    rtt = step.heartbeat_rtt_ms
    rtts = f"{rtt.p50:g} / {rtt.p99:g} / {rtt.max:g}" if rtt else "-"
    per_device = f"{step.rss_per_device_kb:g}" if step.rss_per_device_kb is not None else "-"
    cpu_each = f"{step.server_cpu_per_device_pct:g}" if step.server_cpu_per_device_pct is not None else "-"
    cpu = step.cpu
    replies: list[str] = []
    if speech:
        reply = step.reply_ms
        times = f"{reply.p50:g} / {reply.p90:g} / {reply.max:g}" if reply else "-"
        replies = [f"{step.replies}/{step.utterances}", times]
    return [
        *(step.devices, cpu.server_pct, cpu_each, f"{step.rss_mb:g}", per_device, rtts),
        f"{step.heartbeats_answered}/{step.heartbeats_sent}",
        *replies,
        *(f"{cpu.client_pct:g}", cpu.other_pct, f"{step.client_max_lateness_ms:g}", step.verdict),
    ]


def _pipecat_markdown(report: IdleReport) -> str:
    timeout = report.reply_timeout_s or 0
    header = header_line(
        report.machine, report.generated_at, "stock pipecat reference bot, started by the benchmark"
    )
    lines = [
        *title_lines("Device capacity: silence, stock pipecat", report.command, header),
        "The server is the stock pipecat reference bot (`benchmarks.reference`: one pipeline per "
        "connection, each with its own Whisper, Piper, Silero VAD and Smart Turn, loaded as it connects). "
        "Devices stream "
        f"{report.audio} in 20 ms protobuf audio frames, in real time, from one client process; "
        f"{report.pinning}. Devices connect one at a time; each step settles {report.settle_s:g} s (not "
        f"measured), then is measured for {report.duration_s} s.",
        "",
        "Pipecat has no heartbeat, so **keeping up here means**: every connection opened (RTVI `bot-ready`) "
        f"within {CONNECT_TIMEOUT_S:g} s, no socket closed, and after the window the probe, one of the "
        f"devices (the first to connect, warmed up with one turn before the first step), says "
        f"`{report.probe_clip}` and gets reply audio within {timeout:g} s. This is not the heartbeat "
        "criterion of this server's run. "
        + CLIENT_LATENESS_RULE
        + (
            " The ladder does not go to a step whose projected RSS (RSS with no device + the largest RSS "
            f"per device so far x devices) exceeds {report.max_rss_gib:g} GiB."
            if report.max_rss_gib
            else ""
        ),
        "",
        *table(
            [
                *(
                    "devices",
                    "connect (s)",
                    "slowest connect (s)",
                    "server CPU (% of a core)",
                    "CPU per device",
                ),
                *(
                    "RSS (MB)",
                    "RSS per device (MB)",
                    "probe voice-to-voice (ms)",
                    "client CPU %",
                    "other CPU %",
                ),
                *("client max late (ms)", "verdict"),
            ],
            (_pipecat_cells(step) for step in report.steps),
        ),
        "",
        _capacity_line(report),
        "",
        f"RSS with no device: {report.rss_zero_mb:g} MB; after every device disconnected: "
        f"{report.rss_after_disconnect_mb:g} MB. CPU per device is the server's CPU over the step / devices; "
        "RSS per device is (RSS at N - RSS with no device) / N, and includes the probe's (which has spoken). "
        "A probe voice-to-voice marked (cut early) is negative: the bot ended the turn at a pause inside "
        "the utterance and its reply began before the speech had ended.",
    ]
    if report.comparison:
        lines += ["", "### Against this server", "", *(f"- {line}" for line in report.comparison)]
    return "\n".join(lines)


def _pipecat_cells(step: Step) -> list[object]:
    per_device = f"{step.rss_per_device_kb / 1024:.1f}" if step.rss_per_device_kb is not None else "-"
    cpu_each = f"{step.server_cpu_per_device_pct:g}" if step.server_cpu_per_device_pct is not None else "-"
    probe = step.probe
    probe_ms = "-"
    if probe and probe.voice_to_voice_ms is not None:
        probe_ms = f"{probe.voice_to_voice_ms:g}" + (" (cut early)" if probe.cut_early else "")
    slowest = f"{step.slowest_connect_s:g}" if step.slowest_connect_s is not None else "-"
    cpu = step.cpu
    return [
        *(step.devices, f"{step.connect_s:g}", slowest, cpu.server_pct, cpu_each, f"{step.rss_mb:g}"),
        *(per_device, probe_ms, f"{cpu.client_pct:g}", cpu.other_pct, f"{step.client_max_lateness_ms:g}"),
        step.verdict,
    ]


def capacity_comparison(ours: IdleReport, pipecat: IdleReport) -> list[str]:
    """This server's idle device capacity beside stock pipecat's: the devices each kept up with, and
    server CPU and RSS per device at the largest step each kept up with (where fixed costs are spread
    over the most devices). Each kept up by its own criterion: heartbeats here, the probe there."""
    lines = [
        capacity_ratio(
            "idle devices kept up with",
            ours.capacity,
            pipecat.capacity,
            ours_never_failed=all(step.keeps_up for step in ours.steps),
            pipecat_never_failed=all(step.keeps_up for step in pipecat.steps),
        )
    ]
    mine, theirs = _largest_kept(ours), _largest_kept(pipecat)
    if mine is None or theirs is None:
        return lines
    cpu = _ratio(theirs.server_cpu_per_device_pct, mine.server_cpu_per_device_pct)
    rss = _ratio(theirs.rss_per_device_kb, mine.rss_per_device_kb)
    lines.append(
        f"Per device, at the largest step each kept up with (this server {mine.devices}, stock pipecat "
        f"{theirs.devices}): server CPU {_number(mine.server_cpu_per_device_pct)} vs "
        f"{_number(theirs.server_cpu_per_device_pct)} % of a core ({cpu}), RSS "
        f"{_size(mine.rss_per_device_kb)} vs {_size(theirs.rss_per_device_kb)} ({rss})."
    )
    return lines


def _largest_kept(report: IdleReport) -> Step | None:
    kept = None
    for step in report.steps:
        if not step.keeps_up:
            break
        if step.devices:
            kept = step
    return kept


def _ratio(theirs: float | None, mine: float | None) -> str:
    """Stock pipecat's figure as a multiple of this server's."""
    if theirs is None or mine is None or mine <= 0:
        return "no ratio"
    return f"stock pipecat {theirs / mine:.3g}x"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _size(kb: float | None) -> str:
    if kb is None:
        return "-"
    return f"{kb:g} KB" if abs(kb) < 1024 else f"{kb / 1024:.1f} MB"


def projected_rss_refusal(
    steps: list[Step], devices: int, rss_zero_mb: float, limit_gib: float
) -> str | None:
    """Why the ladder must not go to `devices`, or None: the RSS it would need, RSS with no device plus
    the largest RSS per device measured so far for each device, exceeds `limit_gib`."""
    per_device_kb = max((s.rss_per_device_kb for s in steps if s.rss_per_device_kb is not None), default=None)
    if per_device_kb is None:
        return None
    projected_gib = (rss_zero_mb + per_device_kb / 1024 * devices) / 1024
    if projected_gib <= limit_gib:
        return None
    return (
        f"the next step, {devices} devices, was not run: its projected RSS, {projected_gib:.1f} GiB "
        f"({rss_zero_mb:g} MB + {per_device_kb / 1024:.1f} MB per device x {devices}), exceeds the "
        f"{limit_gib:g} GiB limit"
    )
