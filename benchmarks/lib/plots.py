"""PNG plots of benchmark results: latency distributions, the server's stages, capacity curves.

Reads any of the JSON files the benchmarks write (recognised by shape, see
`benchmarks.lib.plot_data`) and draws, with matplotlib's Agg backend (no display):

- `voice-latency.png`: voice-to-voice per configuration (target x conversations at once), every
  voice JSON given together: box plots (whiskers at p5/p95) and the cumulative distribution;
- `voice-stages.png`: the server's stages, median ms from the end of speech, per configuration;
- `<file>-capacity.png` for a device capacity run: server CPU and RSS per device against devices;
- `device-capacity-vs-pipecat.png` when this server's and stock pipecat's idle runs (the same audio)
  are both given: the two on the same axes, RSS per device on a log scale;
- `<file>-capacity.png` for a conversation capacity run: voice-to-voice p50/p95/p99 (and every
  turn) against simultaneous conversations, with the p95 limit;
- `<file>-latency.png` for a persona switch run: the distribution of each measure;
- `<file>-timings.png` for pytest-benchmark's JSON: the median of each micro-benchmark;
- `<file>-trade-off.png` for `benchmarks.turn_ends --sweep`: per set of utterances, the share of
  clips talked over against the median wait after the true end of the turn, one point per setting
  of the turn-end thresholds, today's circled.

    .venv/bin/python -m benchmarks.lib.plots --out benchmarks/results/plots benchmarks/results/*.json
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from benchmarks.lib.plot_data import (
    STAGES,
    SWITCH_MEASURES,
    ConversationRun,
    DeviceCapacityRun,
    MicroRun,
    Results,
    SwitchRun,
    TradeOffRun,
    VoiceRun,
    load_results,
)

DPI = 110
LIMIT_COLOUR = "tab:red"
SYMLOG_ABOVE = 20
"""Device counts spread wider than this (0, 1, 50, 300) get a symlog axis."""
MB_ABOVE_KB = 10 * 1024
"""RSS per device above this (stock pipecat's, with its own models per connection) is drawn in MB."""


@dataclass(frozen=True)
class Plot:
    path: Path
    title: str
    sources: list[Path]
    """The JSON files drawn in it."""


def render(paths: list[Path], out: Path) -> tuple[list[Plot], Results]:
    """Draw every plot the files allow into `out`; the plots and what was read (and skipped)."""
    results = load_results(paths)
    results.voice.sort(key=lambda run: (run.target != "ours", run.target, run.concurrency, run.label))
    out.mkdir(parents=True, exist_ok=True)
    plots: list[Plot] = []
    if voice := [run for run in results.voice if run.voice_to_voice_ms]:
        sources = [run.source for run in voice]
        plots.append(
            _save(voice_latency(voice), out / "voice-latency.png", "Voice-to-voice latency", sources)
        )
        if staged := [run for run in voice if run.stage_p50_ms]:
            sources = [run.source for run in staged]
            plots.append(_save(voice_stages(staged), out / "voice-stages.png", "Server stages", sources))
    for devices in results.devices:
        path, title = _named(out, devices.source, "capacity"), f"Device capacity ({devices.label})"
        plots.append(_save(device_capacity(devices), path, title, [devices.source]))
    if pair := _versus_pipecat(results.devices):
        path, title = out / "device-capacity-vs-pipecat.png", "Device capacity: this server and stock pipecat"
        plots.append(_save(device_capacity_versus(*pair), path, title, [run.source for run in pair]))
    for source in dict.fromkeys(run.source for run in results.conversations):
        runs = [run for run in results.conversations if run.source == source]
        path, title = _named(out, source, "capacity"), "Simultaneous conversations"
        plots.append(_save(conversation_capacity(runs), path, title, [source]))
    for switch in (run for run in results.switch if run.measures_ms):
        path, title = _named(out, switch.source, "latency"), f"Persona switch ({switch.label})"
        plots.append(_save(switch_latency(switch), path, title, [switch.source]))
    for micro in (run for run in results.micro if run.medians_us):
        path = _named(out, micro.source, "timings")
        plots.append(_save(micro_timings(micro), path, "Micro-benchmarks", [micro.source]))
    for sweep in (run for run in results.trade_off if run.points):
        path, title = _named(out, sweep.source, "trade-off"), "Turn end: talk-over against waiting"
        plots.append(_save(trade_off(sweep), path, title, [sweep.source]))
    return plots, results


def trade_off(run: TradeOffRun) -> Figure:
    sets = list(dict.fromkeys(p.source for p in run.points))
    columns = min(3, len(sets))
    rows = -(-len(sets) // columns)
    figure = _figure(5 * columns, 4.2 * rows)
    for number, source in enumerate(sets):
        axes = figure.add_subplot(rows, columns, number + 1)
        for transcript, marker in ((True, "o"), (False, "x")):
            mine = [p for p in run.points if p.source == source and p.use_transcript == transcript]
            axes.scatter(
                [p.wait_p50_ms for p in mine],
                [100 * p.talk_over_rate for p in mine],
                marker=marker,
                label="Smart Turn + transcript" if transcript else "Smart Turn alone",
                alpha=0.7,
            )
        today = [
            p
            for p in run.points
            if p.source == source
            and p.use_transcript
            and (p.confident_silence_ms, p.fallback_silence_ms) == run.today
        ]
        for p in today:
            axes.scatter(
                [p.wait_p50_ms], [100 * p.talk_over_rate], s=160, facecolors="none", edgecolors="red"
            )
            axes.annotate(
                "today", (p.wait_p50_ms, 100 * p.talk_over_rate), xytext=(6, 6), textcoords="offset points"
            )
        axes.set_title(source)
        axes.set_xlabel("median wait after the turn's true end, ms")
        axes.set_ylabel("clips talked over, %")
        axes.set_ylim(-3, 103)
        _grid(axes)
        axes.legend(fontsize=8)
    return figure


def voice_latency(runs: list[VoiceRun]) -> Figure:
    figure = _figure(12, 1.2 + 0.55 * max(4, len(runs)))
    boxes, cdf = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})
    labels = [f"{run.label}\nn={len(run.voice_to_voice_ms)} (+{run.warmup_turns} warm-up)" for run in runs]
    boxes.boxplot(
        [run.voice_to_voice_ms for run in runs],
        orientation="horizontal",
        whis=(5, 95),
        tick_labels=labels,
        medianprops={"color": "black"},
    )
    for position, run in enumerate(runs, start=1):
        p50, p95 = np.percentile(run.voice_to_voice_ms, [50, 95])
        boxes.plot([p95], [position], marker="D", color="tab:orange", linestyle="none")
        boxes.annotate(f"p50 {p50:.0f}", (p50, position + 0.3), fontsize=8, ha="center")
    boxes.plot([], [], marker="D", color="tab:orange", linestyle="none", label="p95")
    boxes.legend(loc="lower right", fontsize=8)
    boxes.invert_yaxis()
    boxes.set_xlabel("ms from the end of speech to the first reply audio")
    boxes.set_title("box p25-p75, whiskers p5-p95", fontsize=9)
    for run in runs:
        values = np.sort(run.voice_to_voice_ms)
        cdf.step(values, np.arange(1, len(values) + 1) / len(values), where="post", label=run.label)
    cdf.axhline(0.95, color="grey", linewidth=0.8, linestyle=":")
    cdf.set_xlabel("voice-to-voice (ms)")
    cdf.set_ylabel("fraction of turns")
    cdf.set_title("cumulative distribution (dotted: p95)", fontsize=9)
    cdf.legend(fontsize=8, loc="lower right")
    _grid(boxes, cdf)
    figure.suptitle(
        "Voice-to-voice: end of speech to first reply audio at the device, warm-up turns excluded"
    )
    return figure


def voice_stages(runs: list[VoiceRun]) -> Figure:
    names = [*STAGES, "voice-to-voice (client)"]
    figure = _figure(11, 1.5 + 0.35 * len(names) * max(1, len(runs)) ** 0.5 + 1.5)
    axes = figure.subplots()
    height = 0.8 / len(runs)
    for number, run in enumerate(runs):
        values = [*(run.stage_p50_ms.get(stage, np.nan) for stage in STAGES), _median(run.voice_to_voice_ms)]
        positions = np.arange(len(names)) + number * height
        bars = axes.barh(positions, values, height=height, label=run.label)
        axes.bar_label(bars, fmt="%.0f", fontsize=7, padding=2)
    axes.set_yticks(np.arange(len(names)) + height * (len(runs) - 1) / 2, names)
    axes.invert_yaxis()
    axes.set_xlabel("median ms from the end of speech (each stage counted from it: they overlap, not add)")
    axes.set_xlim(0, axes.get_xlim()[1] * 1.06)
    figure.legend(loc="outside lower center", ncols=min(4, len(runs)), fontsize=8)
    _grid(axes)
    figure.suptitle("Where the time goes: the server's stages, p50")
    return figure


def device_capacity(run: DeviceCapacityRun) -> Figure:
    figure = _figure(12, 4.5)
    cpu, memory = figure.subplots(1, 2)
    devices = [step.devices for step in run.steps]
    _curve(cpu, devices, [step.server_cpu_pct for step in run.steps], run, "server CPU")
    for step in run.steps:
        if step.cpu_per_device_pct is not None and step.server_cpu_pct is not None:
            note = f"{step.cpu_per_device_pct:.2g} %/device"
            at = (step.devices, step.server_cpu_pct)
            cpu.annotate(note, at, fontsize=7, xytext=(4, -10), textcoords="offset points")
    cpu.set_ylabel("server CPU (% of one core)")
    with_devices = [step for step in run.steps if step.rss_per_device_kb is not None]
    per_device = [step.rss_per_device_kb or 0.0 for step in with_devices]
    scale, unit = (1024, "MB") if max(per_device, default=0) > MB_ABOVE_KB else (1, "KB")
    _curve(memory, [s.devices for s in with_devices], [kb / scale for kb in per_device], run, "RSS")
    memory.set_ylabel(f"RSS per device ({unit}): (RSS at N - RSS at 0) / N")
    for axes in (cpu, memory):
        axes.set_xlabel("connected devices" + (" (symlog)" if max(devices, default=0) > SYMLOG_ABOVE else ""))
        if max(devices, default=0) > SYMLOG_ABOVE:
            axes.set_xscale("symlog", linthresh=1)
        axes.set_xticks(devices, [str(d) for d in devices])
        axes.set_ylim(bottom=0)
    _grid(cpu, memory)
    figure.suptitle(f"Device capacity: {run.label} (x: step did not keep up)")
    return figure


def device_capacity_versus(ours: DeviceCapacityRun, pipecat: DeviceCapacityRun) -> Figure:
    """Server CPU and RSS per device against devices for both targets; each kept up by its own criterion
    (heartbeats here, the probe's reply for stock pipecat)."""
    figure = _figure(12, 4.5)
    cpu, memory = figure.subplots(1, 2)
    for number, run in enumerate((ours, pipecat)):
        name = "this server" if run.target == "ours" else f"stock {run.target}"
        steps = [step for step in run.steps if step.devices]
        xs = [step.devices for step in steps]
        cpus = [_nan(step.server_cpu_pct) for step in steps]
        rss = [_positive(step.rss_per_device_kb) / 1024 for step in steps]
        for axes, ys in ((cpu, cpus), (memory, rss)):
            axes.plot(xs, ys, marker="o", color=f"C{number}", label=name)
            failed = [(x, y) for x, y, step in zip(xs, ys, steps, strict=True) if not step.keeps_up]
            if failed:
                axes.plot(*zip(*failed, strict=True), "x", color=LIMIT_COLOUR, markersize=12)
    cpu.set_ylabel("server CPU (% of one core)")
    cpu.set_ylim(bottom=0)
    memory.set_ylabel("RSS per device (MB, log): (RSS at N - RSS at 0) / N")
    memory.set_yscale("log")
    devices = sorted({step.devices for run in (ours, pipecat) for step in run.steps if step.devices})
    for axes in (cpu, memory):
        axes.set_xlabel("connected devices (log)")
        axes.set_xscale("log")
        axes.set_xticks(devices, [str(d) for d in devices], rotation=45)
        axes.minorticks_off()
        axes.legend(fontsize=8)
    _grid(cpu, memory)
    figure.suptitle(f"Device capacity, {ours.audio}: this server and stock pipecat (x: step did not keep up)")
    return figure


def _versus_pipecat(runs: list[DeviceCapacityRun]) -> tuple[DeviceCapacityRun, DeviceCapacityRun] | None:
    """This server's idle run and stock pipecat's, with the same audio, when both were given."""
    for pipecat in (run for run in runs if run.target == "pipecat"):
        for ours in runs:
            if ours.target == "ours" and not ours.speech and ours.audio == pipecat.audio:
                return ours, pipecat
    return None


def conversation_capacity(runs: list[ConversationRun]) -> Figure:
    """p50/p95 (and p99 for a single target) against conversations, every turn in grey; one file's
    targets (`--target both`) on the same axes."""
    figure = _figure(12, 4.5)
    latency, cpu = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    rng = np.random.default_rng(0)
    levels = sorted({level.conversations for run in runs for level in run.levels})
    percentiles = ("p50", "p95") if len(runs) > 1 else ("p50", "p95", "p99")
    styles = {"p50": "-", "p95": "--", "p99": ":"}
    for number, run in enumerate(runs):
        colour = f"C{number}"
        xs = [level.conversations for level in run.levels]
        for level in run.levels:
            jitter = level.conversations + rng.uniform(-0.12, 0.12, len(level.voice_to_voice_ms))
            latency.scatter(jitter, level.voice_to_voice_ms, s=6, color=colour, alpha=0.25, zorder=1)
            if not level.within_limit:
                latency.plot(
                    [level.conversations], [level.p95 or run.limit_ms], "x", color=LIMIT_COLOUR, ms=12
                )
        for name in percentiles:
            values = [_nan(getattr(level, name)) for level in run.levels]
            latency.plot(
                xs, values, marker="o", color=colour, linestyle=styles[name], label=f"{run.target} {name}"
            )
        cpu.plot(
            xs,
            [_nan(level.server_cpu_pct) for level in run.levels],
            marker="o",
            color=colour,
            label=run.target,
        )
    limit = runs[0].limit_ms
    latency.axhline(limit, color=LIMIT_COLOUR, linestyle="--", linewidth=1, label=f"p95 limit {limit:g} ms")
    latency.set_xlabel("simultaneous conversations")
    latency.set_ylabel("voice-to-voice (ms); dots: every measured turn")
    latency.legend(fontsize=8, loc="upper left")
    cpu.set_xlabel("simultaneous conversations")
    cpu.set_ylabel("server CPU (% of one core)")
    if len(runs) > 1:
        cpu.legend(fontsize=8)
    for axes in (latency, cpu):
        axes.set_xticks(levels)
    _grid(latency, cpu)
    answers = "; ".join(f"{run.target}: {_capacity(run)}" for run in runs)
    figure.suptitle(f"Simultaneous conversations ({answers}); warm-up excluded, x: over the limit")
    return figure


def _capacity(run: ConversationRun) -> str:
    if run.capacity is None:
        return "no level within the limit"
    within_all = all(level.within_limit for level in run.levels)
    return f"{'at least ' if within_all else ''}{run.capacity} within p95 ≤ {run.limit_ms:g} ms"


def _nan(value: float | None) -> float:
    return np.nan if value is None else value


def _positive(value: float | None) -> float:
    """The value, or NaN where a log axis could not draw it."""
    return np.nan if value is None or value <= 0 else value


def switch_latency(run: SwitchRun) -> Figure:
    names = list(run.measures_ms)
    figure = _figure(11, 1.5 + 0.5 * len(names))
    axes = figure.subplots()
    axes.boxplot(
        [run.measures_ms[name] for name in names],
        orientation="horizontal",
        whis=(5, 95),
        tick_labels=[f"{SWITCH_MEASURES[name]}\nn={len(run.measures_ms[name])}" for name in names],
        medianprops={"color": "black"},
    )
    axes.invert_yaxis()
    axes.set_xscale("symlog", linthresh=1)
    axes.set_xlim(left=0)
    axes.set_xlabel("ms from the moment the POST was sent (symlog; box p25-p75, whiskers p5-p95)")
    _grid(axes)
    figure.suptitle(f"Persona switch, {run.label}; {run.warmup_switches} warm-up switches excluded")
    return figure


def micro_timings(run: MicroRun) -> Figure:
    names = sorted(run.medians_us, key=run.medians_us.__getitem__)
    figure = _figure(11, 1.5 + 0.3 * len(names))
    axes = figure.subplots()
    medians = [run.medians_us[name] for name in names]
    axes.barh(names, medians, xerr=[run.iqr_us[name] / 2 for name in names], color="tab:blue")
    axes.set_xscale("log")
    axes.set_xlabel("median µs per call (log; error bar: IQR)")
    axes.tick_params(axis="y", labelsize=7)
    _grid(axes)
    figure.suptitle("Micro-benchmarks (pytest-benchmark)")
    return figure


def _curve(axes: Axes, xs: list[int], ys: Sequence[float | None], run: DeviceCapacityRun, label: str) -> None:
    values = [np.nan if y is None else y for y in ys]
    axes.plot(xs, values, marker="o", label=label)
    failed = [(x, y) for x, y, step in zip(xs, values, run.steps, strict=False) if not step.keeps_up]
    if failed:
        axes.plot(*zip(*failed, strict=True), marker="x", color=LIMIT_COLOUR, markersize=12, linestyle="none")


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path, title: str, sources: Sequence[Path]) -> Plot:
    figure.savefig(path)
    return Plot(path=path, title=title, sources=list(dict.fromkeys(sources)))


def _named(out: Path, source: Path, what: str) -> Path:
    return out / f"{source.stem}-{what}.png"


def _grid(*axes: Axes) -> None:
    for a in axes:
        a.grid(True, alpha=0.3)


def _median(values: list[float]) -> float:
    return float(np.median(values)) if values else np.nan


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lib.plots",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", type=Path, help="benchmark JSON files")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/plots"), help="directory for PNGs"
    )
    args = parser.parse_args(argv)
    plots, results = render(args.files, args.out)
    for path, reason in results.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    for plot in plots:
        print(f"{plot.path}  ({plot.title})")
    if not plots:
        print("no plot drawn: none of the files is a benchmark report", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
