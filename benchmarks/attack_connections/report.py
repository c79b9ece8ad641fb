"""The attack report: per level of idle attacker sockets, what legitimate traffic got."""

from __future__ import annotations

from datetime import datetime

import msgspec

from benchmarks.lib.machine import Machine
from benchmarks.lib.report import header_line, key_value_table, pct, table, title_lines
from benchmarks.lib.stats import Summary
from benchmarks.lib.targets import CpuWindow


class Level(msgspec.Struct, frozen=True, kw_only=True):
    attackers: int
    """Attacker sockets the client tries to hold open (half slow-loris, half bare TCP)."""
    grow_s: float
    held_mean: int
    held_min: int
    server_open_fds: int | None
    """At the end of the window."""
    closed_by_server_per_s: float
    connect_failures: int
    """Attacker connects refused or timed out, since the start."""
    rest_ok: int
    rest_failed: int
    rest_ms: Summary | None
    rest_failures: list[str]
    ws_ok: int
    ws_failed: int
    ws_ms: Summary | None
    ws_failures: list[str]
    cpu: CpuWindow

    def line(self) -> str:
        rest, ws = _share(self.rest_ok, self.rest_failed), _share(self.ws_ok, self.ws_failed)
        return f"{self.attackers} attackers (held {self.held_mean}): REST {rest}, WS {ws}"


class AttackReport(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    pinning: str
    server_root: str
    server_open_files: str
    client_open_files: int
    window_s: float
    every_s: float
    probe_timeout_ms: float
    waited_for_quiet_s: float
    levels: list[Level]


def _share(ok: int, failed: int) -> str:
    return f"{ok}/{ok + failed}"


def _rate(ok: int, failed: int) -> str:
    return f"{pct(ok, ok + failed)} ({_share(ok, failed)})"


def _kinds(failures: list[str]) -> str:
    return ", ".join(failures) or "-"


def _ms(summary: Summary | None, which: str) -> str:
    return "-" if summary is None else f"{getattr(summary, which):g}"


def markdown(report: AttackReport) -> str:
    lines = title_lines(
        "Idle attacker connections vs legitimate requests",
        report.command,
        header_line(report.machine, report.generated_at, report.server_root),
    )
    lines += key_value_table(
        [
            ("server's limit on open files", report.server_open_files),
            ("client's limit on open files", report.client_open_files),
            (
                "probes",
                f"a REST request and a device connect every {report.every_s:g} s for {report.window_s:g} s",
            ),
            ("a probe fails after", f"{report.probe_timeout_ms:g} ms"),
            ("pinning", report.pinning),
        ]
    )
    lines.append("")
    header = [
        "attackers",
        "held (mean / min)",
        "server fds",
        "closed by server /s",
        "REST ok",
        "REST p50 ms",
        "REST p99 ms",
        "WS connect ok",
        "WS p50 ms",
        "WS p99 ms",
        "server CPU %",
    ]
    rows = [
        [
            level.attackers,
            f"{level.held_mean} / {level.held_min}",
            "-" if level.server_open_fds is None else level.server_open_fds,
            f"{level.closed_by_server_per_s:g}",
            _rate(level.rest_ok, level.rest_failed),
            _ms(level.rest_ms, "p50"),
            _ms(level.rest_ms, "p99"),
            _rate(level.ws_ok, level.ws_failed),
            _ms(level.ws_ms, "p50"),
            _ms(level.ws_ms, "p99"),
            "-" if level.cpu.server_pct is None else f"{level.cpu.server_pct:g}",
        ]
        for level in report.levels
    ]
    lines += table(header, rows, align=["---:"] * len(header))
    failures = [
        f"- {level.attackers}: REST {_kinds(level.rest_failures)}; WS {_kinds(level.ws_failures)}"
        for level in report.levels
        if level.rest_failures or level.ws_failures
    ]
    if failures:
        lines += ["", "Failures, by kind:", *failures]
    return "\n".join(lines) + "\n"
