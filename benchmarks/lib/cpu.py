"""CPU time during a run, from /proc: the server's, wrk's, a local Redis's, and everything else's.

On a shared machine the last number says whether the result can be trusted:
busy CPU time that none of them used belongs to other work that competed with
them. All figures are percent of one core (100 = one core busy
for the whole run). Linux only; elsewhere the figures are None.
"""

from __future__ import annotations

import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
QUIET_BELOW_PCT = 10.0
QUIET_FOR_S = 5.0
"""`--wait-quiet`: the machine counts as quiet below this share of one core, for this long."""


class CpuSample(msgspec.Struct, frozen=True):
    at: float
    server_ticks: int | None
    """utime + stime of the server process."""
    children_s: float
    """CPU seconds of this process's finished children (wrk, once it has been waited for)."""
    cpu_ticks: dict[int, tuple[int, int, int]]
    """Per CPU: (busy, steal, total) ticks."""
    redis_s: float | None = None
    """CPU seconds Redis reports for itself, when it runs on this machine."""


class CpuUsage(msgspec.Struct, frozen=True):
    server_pct: float | None
    wrk_pct: float
    """The CPU of the children that finished during the run: wrk is the only one."""
    redis_pct: float | None
    """A Redis server on this machine, by its own account (INFO cpu); None without one."""
    busy_pct: dict[str, float]
    """Per CPU ("cpu0"), percent of that CPU not idle (interrupts and steal included)."""
    steal_pct: dict[str, float]
    """Per CPU: time the hypervisor gave to another guest."""
    other_pct: float | None
    """Busy time of all CPUs that was neither the server's, nor wrk's, nor a local Redis's."""


def sample(server_pid: int, *, redis_s: float | None = None) -> CpuSample:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSample(
        at=time.monotonic(),
        server_ticks=_process_ticks(server_pid),
        children_s=children.ru_utime + children.ru_stime,
        cpu_ticks=_cpu_ticks(),
        redis_s=redis_s,
    )


def usage(before: CpuSample, after: CpuSample) -> CpuUsage:
    wall_s = after.at - before.at
    server_pct = None
    if before.server_ticks is not None and after.server_ticks is not None:
        server_pct = _pct((after.server_ticks - before.server_ticks) / _TICKS_PER_S, wall_s)
    wrk_pct = _pct(after.children_s - before.children_s, wall_s)
    redis_pct = None
    if before.redis_s is not None and after.redis_s is not None:
        redis_pct = _pct(after.redis_s - before.redis_s, wall_s)
    busy: dict[str, float] = {}
    steal: dict[str, float] = {}
    for cpu, (busy_after, steal_after, total_after) in sorted(after.cpu_ticks.items()):
        busy_before, steal_before, total_before = before.cpu_ticks.get(cpu, (0, 0, total_after))
        total = total_after - total_before
        if total > 0:
            busy[f"cpu{cpu}"] = round(100.0 * (busy_after - busy_before) / total, 1)
            steal[f"cpu{cpu}"] = round(100.0 * (steal_after - steal_before) / total, 1)
    other = None
    if busy and server_pct is not None:
        ours = server_pct + wrk_pct + (redis_pct or 0.0)
        other = round(max(0.0, sum(busy.values()) - ours), 1)
    return CpuUsage(
        server_pct=server_pct,
        wrk_pct=wrk_pct,
        redis_pct=redis_pct,
        busy_pct=busy,
        steal_pct=steal,
        other_pct=other,
    )


def wait_until_quiet(*, busy_below_pct: float, for_s: float, timeout_s: float) -> float:
    """Wait until all CPUs together stay under `busy_below_pct` of one core for `for_s` seconds.

    Returns the seconds waited; gives up (and returns) after `timeout_s`.
    """
    started = time.monotonic()
    quiet_since = started
    previous = _cpu_ticks()
    while time.monotonic() - started < timeout_s:
        time.sleep(0.5)
        current = _cpu_ticks()
        busy = sum(
            100.0 * (current[cpu][0] - previous[cpu][0]) / max(1, current[cpu][2] - previous[cpu][2])
            for cpu in current
            if cpu in previous
        )
        previous = current
        if busy >= busy_below_pct:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= for_s:
            break
    return round(time.monotonic() - started, 1)


def _pct(cpu_s: float, wall_s: float) -> float:
    return round(100.0 * cpu_s / wall_s, 1) if wall_s > 0 else 0.0


def _process_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
    fields = stat.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])  # utime and stime: fields 14 and 15 of the whole line


def _cpu_ticks() -> dict[int, tuple[int, int, int]]:
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return {}
    ticks: dict[int, tuple[int, int, int]] = {}
    for line in lines:
        name, *values = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        # user nice system idle iowait irq softirq steal (guest time is already in user and nice).
        # Interrupt time counts as busy: the kernel charges a process for the softirq work done
        # while it ran (the loopback packets), yet lists that time here as softirq, not system.
        numbers = [int(v) for v in values[:8]]
        total = sum(numbers)
        ticks[int(name.removeprefix("cpu"))] = (total - numbers[3] - numbers[4], numbers[7], total)
    return ticks


@dataclass(frozen=True)
class Pinning:
    server: list[str]
    """Command prefix for the server (e.g. `taskset -c 0`); empty when not pinned."""
    load: list[str]
    description: str


def choose_pinning(*, enabled: bool, server_cpu: int, load_cpu: int) -> Pinning:
    """Server and wrk on separate CPUs with `taskset`, when asked, available and there are two CPUs."""
    if not enabled:
        return Pinning([], [], "not pinned (--no-pin)")
    if shutil.which("taskset") is None:
        return Pinning([], [], "not pinned: taskset is not installed")
    allowed = os.sched_getaffinity(0)
    if server_cpu == load_cpu or not {server_cpu, load_cpu} <= allowed:
        return Pinning([], [], f"not pinned: CPUs {server_cpu} and {load_cpu} are not two allowed CPUs")
    return Pinning(
        ["taskset", "-c", str(server_cpu)],
        ["taskset", "-c", str(load_cpu)],
        f"taskset: server on CPU {server_cpu}, wrk on CPU {load_cpu}",
    )
