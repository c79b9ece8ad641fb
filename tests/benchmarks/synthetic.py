"""Tiny benchmark reports built with the benchmarks' own structs, as their JSON files would hold them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from benchmarks.conversations.report import ConversationReport, capacity_of, level_of
from benchmarks.idle.report import IdleReport, Probe, Step, step_of
from benchmarks.idle.report import capacity_of as devices_capacity
from benchmarks.idle.window import Window
from benchmarks.lib.machine import Machine
from benchmarks.lib.targets import CpuWindow
from benchmarks.switch.report import Switch, build_report
from benchmarks.voice.turn import TurnResult

MACHINE = Machine(
    cpu_model="Test CPU", cores=2, kernel="Linux test", python="3.11", packages={}, git_commit="abc1234"
)
AT = datetime(2026, 1, 1, tzinfo=UTC)
STAGE_MS = {"turn_end": 600.0, "transcript_final": 180.0, "first_token": 181.0, "first_audio": 350.0}


def cpu(server_pct: float | None = 20.0) -> CpuWindow:
    return CpuWindow(
        seconds=10.0, server_pct=server_pct, client_pct=2.0, other_pct=1.0, busy_pct={}, load_average_1m=0.1
    )


def turn(ms: float, *, warmup: bool = False, device: int = 0) -> TurnResult:
    return TurnResult(
        device=device,
        clip="thank_you",
        turn=0,
        warmup=warmup,
        speech_end_s=1.0,
        voice_to_voice_ms=ms,
        server_ms={**STAGE_MS, "first_byte_sent": ms - 5},
        transcript="thank you",
        wer=0.0,
        reply_text="You're welcome.",
        reply_audio_s=1.5,
        transcripts=1,
    )


def voice_report(
    *, concurrency: int = 1, target: str | None = None, base_ms: float = 600.0
) -> dict[str, Any]:
    """A voice harness report as a dict (its JSON), optionally labelled with a target."""
    turns = [turn(base_ms * 2, warmup=True), *(turn(base_ms + 10 * i) for i in range(12))]
    report: dict[str, Any] = {
        "command": "voice",
        "generated_at": AT.isoformat(),
        "machine": msgspec.to_builtins(MACHINE),
        "concurrency": concurrency,
        "voice_to_voice_ms": {"n": 12, "p50": base_ms + 55},
        "server_stages_ms": {stage: {"p50": value} for stage, value in STAGE_MS.items()},
        "turns": msgspec.to_builtins(turns),
    }
    if target is not None:
        report["target"] = target
    return report


def conversation_report(
    levels: dict[int, list[float]], *, limit_ms: float = 1500.0, target: str = "ours"
) -> ConversationReport:
    measured = [
        level_of(
            conversations=n,
            turns=[turn(values[0], warmup=True), *(turn(v, device=i % n) for i, v in enumerate(values))],
            cpu=cpu(15.0 * n),
            late_frames=0,
            limit_ms=limit_ms,
        )
        for n, values in levels.items()
    ]
    capacity, answer = capacity_of(measured, list(levels), limit_ms)
    return ConversationReport(
        command="conversations",
        generated_at=AT,
        machine=MACHINE,
        server="test",
        target=target,
        files=["thank_you"],
        repetitions=1,
        warmup_turns_per_device=1,
        p95_limit_ms=limit_ms,
        levels_planned=list(levels),
        levels=measured,
        capacity=capacity,
        answer=answer,
        waited_for_quiet_s=0.0,
        notes=[],
    )


def idle_report(counts: list[int], *, speech: bool = False, slow_from: int | None = None) -> IdleReport:
    """This server's device capacity run; from `slow_from` devices on, heartbeats take 300 ms (too long)."""
    steps = []
    for devices in counts:
        rtt_ms = 300.0 if slow_from is not None and devices >= slow_from else 1.0
        window = Window(rtts_ms=[rtt_ms] * devices, heartbeats_sent=devices, ticks=100)
        if speech:
            window.utterances, window.reply_ms = devices, [700.0] * devices
        steps.append(
            step_of(
                devices=devices,
                connect_s=0.1,
                cpu=cpu(0.2 + 0.2 * devices),
                rss_kb=500_000 + 300 * devices,
                peak_rss_kb=500_000 + 300 * devices,
                rss_zero_kb=500_000,
                window=window,
                closed=[],
                rtt_limit_ms=200.0,
                speech=speech and devices > 0,
            )
        )
    return IdleReport(
        command="idle",
        generated_at=AT,
        machine=MACHINE,
        pinning="none",
        audio="speech" if speech else "digital silence",
        duration_s=5,
        settle_s=1.0,
        heartbeat_every_s=2.0,
        rtt_limit_ms=200.0,
        waited_for_quiet_s=0.0,
        rss_zero_mb=488.3,
        rss_after_disconnect_mb=490.0,
        steps=steps,
        speech=speech,
        speech_gap_s=1.0 if speech else None,
        reply_timeout_s=10.0 if speech else None,
        capacity=devices_capacity(steps),
    )


def pipecat_step(
    devices: int,
    probe_ms: float | None = 1100.0,
    *,
    rss_per_device_kb: float = 140_000.0,
    connect_failures: tuple[str, ...] = (),
    closed: tuple[str, ...] = (),
) -> Step:
    """A stock pipecat step: no heartbeats, the probe's turn after the window (None: it got no reply)."""
    return step_of(
        devices=devices,
        connect_s=1.5 * devices,
        slowest_connect_s=1.8,
        connect_failures=connect_failures,
        cpu=cpu(3.0 * devices),
        rss_kb=300_000 + round(rss_per_device_kb * devices),
        peak_rss_kb=300_000 + round(rss_per_device_kb * devices),
        rss_zero_kb=300_000,
        window=Window(ticks=100),
        closed=list(closed),
        rtt_limit_ms=None,
        probe=Probe(
            voice_to_voice_ms=probe_ms, error=None if probe_ms else "the probe got no reply audio within 10 s"
        ),
    )


def pipecat_idle_report(steps: list[Step], *, stopped: str | None = None) -> IdleReport:
    return IdleReport(
        command="idle --target pipecat",
        generated_at=AT,
        machine=MACHINE,
        pinning="none",
        audio="digital silence",
        duration_s=5,
        settle_s=1.0,
        heartbeat_every_s=None,
        rtt_limit_ms=None,
        waited_for_quiet_s=0.0,
        rss_zero_mb=293.0,
        rss_after_disconnect_mb=900.0,
        steps=steps,
        reply_timeout_s=10.0,
        until_fails=True,
        capacity=devices_capacity(steps),
        target="pipecat",
        probe_clip="hello_how_are_you",
        max_rss_gib=16.0,
        stopped=stopped,
    )


def switch_report() -> Any:
    switches = [
        Switch(
            number=n,
            warmup=n == 0,
            from_persona="companion",
            to_persona="storyteller",
            rest_switch_latency_ms=float(n % 2),
            request_ms=3.0 + n * 0.1,
            persona_switch_received_ms=2.5,
            ack_recorded_ms=4.0,
            server_ack_ms=2.0,
            stop_playback_received_ms=None,
            first_audio_ms=150.0 + n,
        )
        for n in range(8)
    ]
    return build_report(
        command="switch",
        server="test",
        personas=["companion", "storyteller"],
        during_reply=False,
        switches=switches,
        swaps=None,
        cpu=cpu(),
        waited_s=0.0,
    )


def micro_report() -> dict[str, Any]:
    stats = {"median": 2e-6, "iqr": 1e-7, "min": 1.8e-6, "max": 9e-6, "rounds": 1000}
    return {"machine_info": {}, "version": "5.0", "benchmarks": [{"name": "test_frame_hop", "stats": stats}]}


def write(path: Path, document: Any) -> Path:
    path.write_bytes(msgspec.json.encode(document))
    return path


def samples(n: int, low: float, high: float) -> list[float]:
    return [float(v) for v in np.linspace(low, high, n)]
