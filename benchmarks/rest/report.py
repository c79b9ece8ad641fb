"""Results of the REST load benchmark: what is kept as JSON, the target check and the Markdown table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec

from benchmarks.lib.cpu import CpuUsage
from benchmarks.lib.machine import Machine
from benchmarks.lib.report import table
from benchmarks.rest.wrk import Errors, WrkRun

TARGET_ENDPOINT = "state"
TARGET_BACKEND = "memory"
TARGET_RPS = 5000.0
TARGET_P99_MS = 10.0
CONTENDED_PCT = 10.0
TARGET = (
    f"GET /devices/{{id}}/state, memory store: >= {TARGET_RPS:,.0f} req/s and p99 <= {TARGET_P99_MS:g} ms"
)


class LatencyMs(msgspec.Struct, frozen=True):
    p50: float
    p75: float
    p90: float
    p99: float
    p99_9: float
    mean: float
    max: float


class Measurement(msgspec.Struct, frozen=True, kw_only=True):
    """One wrk run, in requests per second and milliseconds."""

    requests: int
    duration_s: float
    requests_per_s: float
    latency_ms: LatencyMs
    errors: Errors
    """`status` counts responses above 399; the others are socket errors."""
    cpu: CpuUsage | None = None
    """CPU use during the run: the server's, wrk's and other work's."""
    waited_for_quiet_s: float | None = None
    """How long the run waited for other work to calm down first (`--wait-quiet`)."""

    @classmethod
    def of(
        cls, run: WrkRun, *, cpu: CpuUsage | None = None, waited_for_quiet_s: float | None = None
    ) -> Measurement:
        r = run.result
        lat = r.latency_us
        return cls(
            requests=r.requests,
            duration_s=round(r.duration_us / 1e6, 3),
            requests_per_s=round(r.requests_per_s, 1),
            latency_ms=LatencyMs(
                p50=lat.ms(50),
                p75=lat.ms(75),
                p90=lat.ms(90),
                p99=lat.ms(99),
                p99_9=lat.ms(99.9),
                mean=round(lat.mean / 1000.0, 3),
                max=lat.max / 1000.0,
            ),
            errors=r.errors,
            cpu=cpu,
            waited_for_quiet_s=waited_for_quiet_s,
        )


class RunResult(msgspec.Struct, kw_only=True):
    """One endpoint on one backend: measured, or FAILED with the reason."""

    backend: str
    endpoint: str
    method: str
    path: str
    ok: bool = False
    failure: str | None = None
    measured: Measurement | None = None
    """The reported run: the one with the median req/s, or the first that FAILED."""
    repeats: list[Measurement] = []
    """Every measured run, in order."""
    warmup: Measurement | None = None
    """The excluded warm-up run, kept for reference."""
    server_env: dict[str, str] = {}
    """Settings given to the server besides its secret, state dir and port."""
    note: str = ""
    wrk_command: list[str] = []
    wrk_output: str = ""


class Report(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    wrk: str
    pinning: str
    threads: int
    connections: int
    duration_s: int
    warmup_s: int
    repeat: int
    wait_quiet_s: float = 0.0
    auth: str
    target: str
    target_met: bool | None
    runs: list[RunResult]
    notes: list[str] = []


def target_met(runs: list[RunResult]) -> bool | None:
    """Whether the state endpoint on the memory store met the target; None if it was not measured."""
    for run in runs:
        if run.backend == TARGET_BACKEND and run.endpoint == TARGET_ENDPOINT:
            m = run.measured
            return (
                run.ok
                and m is not None
                and m.requests_per_s >= TARGET_RPS
                and m.latency_ms.p99 <= TARGET_P99_MS
            )
    return None


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report)) + b"\n")


def markdown(report: Report) -> str:
    """The results as a Markdown table, with what they were measured on."""
    m = report.machine
    verdict = {True: "**met**", False: "**NOT met**", None: "not measured"}[report.target_met]
    lines = [
        f"Command: `{report.command}`",
        "",
        f"Machine: {m.cpu_model}, {m.cores} cores, {m.kernel}; Python {m.python}; "
        + ", ".join(f"{k} {v}" for k, v in m.packages.items())
        + f"; {report.wrk}; commit {m.git_commit}",
        "",
        f"Load: wrk -t{report.threads} -c{report.connections}, {report.warmup_s} s warm-up (excluded), "
        f"then {_measured(report)}; {report.pinning}; auth: {report.auth}.",
        "",
        *table(
            [
                *("backend", "endpoint", "req/s", "p50 ms", "p90 ms", "p99 ms", "errors"),
                "CPU % server / wrk / redis / other",
            ],
            (_cells(run) for run in report.runs),
            align=["---", "---", "---:", "---:", "---:", "---:", "---", "---"],
        ),
        "",
        f"Target ({report.target}): {verdict}",
    ]
    if any(_contended(run) for run in report.runs):
        lines.append(
            f"\n⚠ marks a run during which other work (not the server, wrk or a local Redis) used more "
            f"than {CONTENDED_PCT:g} % of a core: it competed with them, so that run understates what "
            "the server can do."
        )
    lines += [f"\nNote: {note}" for note in report.notes]
    return "\n".join(lines)


def _measured(report: Report) -> str:
    text = f"{report.duration_s} s measured"
    if report.repeat > 1:
        text = f"{report.repeat} runs of {report.duration_s} s measured, the median req/s one reported"
    if report.wait_quiet_s:
        text += f" (each after waiting up to {report.wait_quiet_s:g} s for other work to stop)"
    return text


def _cells(run: RunResult) -> list[str]:
    endpoint = f"`{run.method} {run.path.replace('{device_id}', '{id}')}`"
    cpu = run.measured.cpu if run.measured is not None else None
    load = "-"
    if cpu is not None:
        load = " / ".join(_pct(p) for p in (cpu.server_pct, cpu.wrk_pct, cpu.redis_pct, cpu.other_pct))
    if _contended(run):
        load += " ⚠"
    m = run.measured
    if not run.ok or m is None:
        reason = (run.failure or "no measurement").splitlines()[0].replace("|", "\\|")
        return [run.backend, endpoint, "**FAILED**", "", "", "", reason, load]
    lat = m.latency_ms
    return [
        *(run.backend, endpoint, f"{m.requests_per_s:,.0f}"),
        *(f"{lat.p50:.2f}", f"{lat.p90:.2f}", f"{lat.p99:.2f}", "0", load),
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _contended(run: RunResult) -> bool:
    cpu = run.measured.cpu if run.measured is not None else None
    return cpu is not None and cpu.other_pct is not None and cpu.other_pct > CONTENDED_PCT
