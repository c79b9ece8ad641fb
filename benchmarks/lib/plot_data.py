"""What the plots need, read from the JSON files the benchmarks write, whatever wrote them.

Each file is recognised by its shape, not its name: a voice-to-voice report
(`turns` and `voice_to_voice_ms`; one, or several labelled by `target` such as
`--target both`'s `{"ours": …, "pipecat": …}`, or a list of them), a persona
switch report, a device capacity report (`idle_capacity`), a conversation
capacity report, or pytest-benchmark's `--benchmark-json` (a REST load report
is recognised and has nothing to draw). Anything else is
listed as skipped with the reason, never guessed at. Only measured samples are
kept: warm-up turns and switches are dropped here.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("turn_end", "transcript_final", "first_token", "first_audio", "first_byte_sent")
SWITCH_MEASURES = {
    "rest_switch_latency_ms": "REST switch_latency_ms (server)",
    "request_ms": "POST round trip",
    "persona_switch_received_ms": "persona_switch at the device",
    "ack_recorded_ms": "ack handled",
    "server_ack_ms": "acked_at - sent_at (server)",
    "stop_playback_received_ms": "stop_playback at the device",
    "first_audio_ms": "first audio in the new voice",
}


@dataclass(frozen=True)
class VoiceRun:
    """One voice-to-voice configuration: a target at a concurrency."""

    label: str
    target: str
    concurrency: int
    source: Path
    voice_to_voice_ms: list[float]
    """Measured turns only."""
    warmup_turns: int
    stage_p50_ms: dict[str, float]
    """The server's stages, median ms from the speech end its VAD found (empty when it gives none)."""


@dataclass(frozen=True)
class SwitchRun:
    label: str
    source: Path
    measures_ms: dict[str, list[float]]
    """Per measure (`SWITCH_MEASURES`), its value for every measured switch."""
    warmup_switches: int


@dataclass(frozen=True)
class DeviceStep:
    devices: int
    server_cpu_pct: float | None
    cpu_per_device_pct: float | None
    rss_mb: float
    rss_per_device_kb: float | None
    keeps_up: bool


@dataclass(frozen=True)
class DeviceCapacityRun:
    label: str
    source: Path
    speech: bool
    steps: list[DeviceStep]
    target: str = "ours"
    """`ours`, or `pipecat` for the stock pipecat reference bot (reports written before it: `ours`)."""
    audio: str = "silence"


@dataclass(frozen=True)
class ConversationLevel:
    conversations: int
    voice_to_voice_ms: list[float]
    p50: float | None
    p95: float | None
    p99: float | None
    server_cpu_pct: float | None
    within_limit: bool


@dataclass(frozen=True)
class ConversationRun:
    label: str
    target: str
    source: Path
    limit_ms: float
    capacity: int | None
    levels: list[ConversationLevel]


@dataclass(frozen=True)
class MicroRun:
    source: Path
    medians_us: dict[str, float]
    iqr_us: dict[str, float]


@dataclass(frozen=True)
class TradeOffPoint:
    source: str
    """The set of utterances (human-dev, human-held-out, fixture, …)."""
    confident_silence_ms: int
    fallback_silence_ms: int
    use_transcript: bool
    talk_over_rate: float
    wait_p50_ms: float


@dataclass(frozen=True)
class TradeOffRun:
    """`benchmarks.turn_ends --sweep`: talk-over against the wait, per threshold setting and set."""

    source: Path
    points: list[TradeOffPoint]
    today: tuple[int, int]
    """The current (confident, fallback) silences."""


@dataclass
class Results:
    voice: list[VoiceRun] = field(default_factory=list)
    switch: list[SwitchRun] = field(default_factory=list)
    devices: list[DeviceCapacityRun] = field(default_factory=list)
    conversations: list[ConversationRun] = field(default_factory=list)
    micro: list[MicroRun] = field(default_factory=list)
    trade_off: list[TradeOffRun] = field(default_factory=list)
    no_plot: list[Path] = field(default_factory=list)
    """Reports read that have nothing to draw (the REST load table)."""
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def load_results(paths: list[Path]) -> Results:
    results = Results()
    for path in paths:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            results.skipped.append((path, f"not readable JSON: {error}"))
            continue
        try:
            known = _add(results, path, document)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            results.skipped.append((path, f"a report of a shape this module does not read: {error!r}"))
            continue
        if not known:
            results.skipped.append((path, "not a benchmark report this module knows"))
    _disambiguate(results.voice)
    return results


def _add(results: Results, path: Path, doc: Any) -> bool:
    if conversations := [
        _conversations(path, report, target) for report, target in conversation_reports(doc)
    ]:
        results.conversations.extend(conversations)
    elif isinstance(doc, dict) and "steps" in doc and "rss_zero_mb" in doc:
        results.devices.append(_devices(path, doc))
    elif isinstance(doc, dict) and "switches" in doc and "client_ms" in doc:
        results.switch.append(_switches(path, doc))
    elif isinstance(doc, dict) and "benchmarks" in doc and "machine_info" in doc:
        results.micro.append(_micro(path, doc))
    elif isinstance(doc, dict) and doc.get("sweep") and "tallies" in doc:
        results.trade_off.append(_trade_off(path, doc))
    elif isinstance(doc, dict) and ("tallies" in doc or ("runs" in doc and "wrk" in doc)):
        results.no_plot.append(path)
    else:
        runs = [_voice(path, report, target) for report, target in harness_reports(doc)]
        results.voice.extend(runs)
        return bool(runs)
    return True


def _trade_off(path: Path, doc: dict[str, Any]) -> TradeOffRun:
    points = [
        TradeOffPoint(
            source=p["source"],
            confident_silence_ms=int(p["confident_silence_ms"]),
            fallback_silence_ms=int(p["fallback_silence_ms"]),
            use_transcript=bool(p["use_transcript"]),
            talk_over_rate=p["talked_over"] / p["clips"] if p["clips"] else 0.0,
            wait_p50_ms=float(p["wait_p50_ms"]),
        )
        for p in doc["sweep"]
    ]
    params = doc["params"]
    return TradeOffRun(
        path, points, (int(params["confident_silence_ms"]), int(params["fallback_silence_ms"]))
    )


def conversation_reports(doc: Any) -> Iterator[tuple[dict[str, Any], str]]:
    """The conversation capacity report(s) of `doc`: one, or `{"ours": …, "pipecat": …}`."""
    if not isinstance(doc, dict):
        return
    if "levels" in doc and "p95_limit_ms" in doc:
        yield doc, str(doc.get("target") or "ours")
        return
    for key, value in doc.items():
        if isinstance(value, dict) and "levels" in value and "p95_limit_ms" in value:
            yield value, str(value.get("target") or key)


def harness_reports(doc: Any, hint: str | None = None) -> Iterator[tuple[dict[str, Any], str]]:
    """Every voice harness report inside `doc`, with its target: its own `target` field, else the key
    it sits under (`{"ours": …, "pipecat": …}`), else `ours` (reports written before targets existed)."""
    if isinstance(doc, dict):
        if isinstance(doc.get("turns"), list) and "voice_to_voice_ms" in doc:
            yield doc, str(doc.get("target") or hint or "ours")
            return
        for key, value in doc.items():
            yield from harness_reports(value, key if isinstance(value, dict) else None)
    elif isinstance(doc, list):
        for item in doc:
            yield from harness_reports(item)


def _voice(path: Path, report: dict[str, Any], target: str) -> VoiceRun:
    turns = [t for t in report["turns"] if isinstance(t, dict) and "voice_to_voice_ms" in t]
    measured = [t for t in turns if not t.get("warmup")]
    stages: dict[str, float] = {}
    for stage in STAGES:
        summary = (report.get("server_stages_ms") or {}).get(stage)
        values = [t["server_ms"][stage] for t in measured if stage in (t.get("server_ms") or {})]
        if isinstance(summary, dict) and "p50" in summary:
            stages[stage] = float(summary["p50"])
        elif values:
            stages[stage] = float(statistics.median(values))
    concurrency = int(report.get("concurrency") or 1)
    return VoiceRun(
        label=f"{target}, {concurrency} at once",
        target=target,
        concurrency=concurrency,
        source=path,
        voice_to_voice_ms=[float(t["voice_to_voice_ms"]) for t in measured],
        warmup_turns=len(turns) - len(measured),
        stage_p50_ms=stages,
    )


def _disambiguate(runs: list[VoiceRun]) -> None:
    """Two runs with the same target and concurrency (two files) are told apart by their file."""
    labels = [run.label for run in runs]
    for index, run in enumerate(runs):
        if labels.count(run.label) > 1:
            runs[index] = VoiceRun(**{**run.__dict__, "label": f"{run.label} ({run.source.stem})"})


def _switches(path: Path, doc: dict[str, Any]) -> SwitchRun:
    measured = [s for s in doc["switches"] if not s.get("warmup")]
    measures = {
        name: values
        for name in SWITCH_MEASURES
        if (values := [float(s[name]) for s in measured if s.get(name) is not None])
    }
    label = "during a reply" if doc.get("during_reply") else "listening"
    return SwitchRun(
        label=f"{path.stem} ({label})",
        source=path,
        measures_ms=measures,
        warmup_switches=len(doc["switches"]) - len(measured),
    )


def _devices(path: Path, doc: dict[str, Any]) -> DeviceCapacityRun:
    steps = []
    for step in doc["steps"]:
        server = (step.get("cpu") or {}).get("server_pct")
        devices = int(step["devices"])
        per_device = step.get("server_cpu_per_device_pct")
        if per_device is None and server is not None and devices:
            per_device = server / devices
        steps.append(
            DeviceStep(
                devices=devices,
                server_cpu_pct=server,
                cpu_per_device_pct=per_device,
                rss_mb=float(step["rss_mb"]),
                rss_per_device_kb=step.get("rss_per_device_kb"),
                keeps_up=bool(step.get("keeps_up")),
            )
        )
    speech = bool(doc.get("speech"))
    audio = "speech" if speech else str(doc.get("audio") or "silence")
    target = str(doc.get("target") or "ours")
    label = f"{path.stem}: {audio}" + ("" if target == "ours" else f", stock {target}")
    return DeviceCapacityRun(label=label, source=path, speech=speech, steps=steps, target=target, audio=audio)


def _conversations(path: Path, doc: dict[str, Any], target: str) -> ConversationRun:
    levels = []
    for level in doc["levels"]:
        summary = level.get("voice_to_voice_ms") or {}
        measured = [t for t in level.get("turns") or [] if not t.get("warmup")]
        levels.append(
            ConversationLevel(
                conversations=int(level["conversations"]),
                voice_to_voice_ms=[float(t["voice_to_voice_ms"]) for t in measured],
                p50=summary.get("p50"),
                p95=summary.get("p95"),
                p99=summary.get("p99"),
                server_cpu_pct=(level.get("cpu") or {}).get("server_pct"),
                within_limit=bool(level.get("within_limit")),
            )
        )
    return ConversationRun(
        label=f"{path.stem} ({target})",
        target=target,
        source=path,
        limit_ms=float(doc["p95_limit_ms"]),
        capacity=doc.get("capacity"),
        levels=levels,
    )


def _micro(path: Path, doc: dict[str, Any]) -> MicroRun:
    medians, iqrs = {}, {}
    for bench in doc["benchmarks"]:
        stats = bench.get("stats") or {}
        if "median" in stats:
            medians[str(bench.get("name"))] = float(stats["median"]) * 1e6
            iqrs[str(bench.get("name"))] = float(stats.get("iqr", 0.0)) * 1e6
    return MicroRun(source=path, medians_us=medians, iqr_us=iqrs)
