"""REST control-plane load benchmark: the real server under `wrk` on loopback.

For each endpoint, a fresh server (`python -m server.cli serve`, one uvicorn
worker) starts with a random JWT secret and a temporary state dir; an operator
token comes from `python -m server.cli token` with the same environment and one
device is registered. Nothing else connects. wrk then runs a warm-up (excluded
from the results) and the measured run. A run with any socket error or any
response above 399 is FAILED, never reported as a number.

    .venv/bin/python -m benchmarks.rest                     # every endpoint, in-memory store
    .venv/bin/python -m benchmarks.rest --redis-url redis://127.0.0.1:6379/15   # Redis as well

Results go to `benchmarks/results/rest.json`; a Markdown table is printed.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shlex
import shutil
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.lib.cpu import (
    QUIET_BELOW_PCT,
    QUIET_FOR_S,
    Pinning,
    choose_pinning,
    sample,
    usage,
    wait_until_quiet,
)
from benchmarks.lib.machine import describe_machine
from benchmarks.lib.server_process import ROOT, RunningServer, ServerError, running_server
from benchmarks.rest.report import TARGET, Measurement, Report, RunResult, markdown, target_met, write_json
from benchmarks.rest.wrk import Request, WrkError, WrkRun, lua_script, run_wrk, wrk_version

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "rest.json"


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One endpoint under load: how to build its request, and server settings it needs."""

    name: str
    method: str
    path: str
    """With `{device_id}` where the benchmark device's id goes."""
    auth: bool = True
    body: Callable[[str], bytes] | None = None
    """The request body for a device id."""
    server_env: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def request(self, *, token: str, device_id: str) -> Request:
        headers = {"Authorization": f"Bearer {token}"} if self.auth else {}
        body = self.body(device_id) if self.body is not None else None
        if body is not None:
            headers["Content-Type"] = "application/json"
        return Request(
            method=self.method, path=self.path.format(device_id=device_id), headers=headers, body=body
        )


def _dialog_body(device_id: str) -> bytes:
    return json.dumps({"device_id": device_id, "message": "Hello, how are you today?"}).encode()


ENDPOINTS = {
    e.name: e
    for e in (
        Endpoint(name="state", method="GET", path="/devices/{device_id}/state"),
        Endpoint(name="personas", method="GET", path="/personas"),
        Endpoint(
            name="dialog",
            method="POST",
            path="/dialog/send",
            body=_dialog_body,
            server_env={"COMPANION_DIALOG_TURNS_PER_MINUTE": "0"},
            note="server started with COMPANION_DIALOG_TURNS_PER_MINUTE=0 (the per-device turn limit, "
            "30/min by default, would answer 429); offline scripted responder, one session",
        ),
        Endpoint(name="health", method="GET", path="/health", auth=False),
    )
}


@dataclass(frozen=True)
class Backend:
    name: str
    server_env: dict[str, str]
    note: str = ""

    def redis_cpu_s(self) -> float | None:
        """The CPU seconds a Redis on this machine reports for itself; None for other backends."""
        url = self.server_env.get("COMPANION_REDIS_URL")
        if url is None or urllib.parse.urlsplit(url).hostname not in _LOOPBACK:
            return None
        import redis

        client = redis.Redis.from_url(url)
        try:
            info = client.info("cpu")
            return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        except redis.RedisError:
            return None
        finally:
            client.close()


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "rest_load: wrk is not installed (scripts/install-system-packages.sh installs it)",
            file=sys.stderr,
        )
        return 2
    pinning = choose_pinning(enabled=not args.no_pin, server_cpu=args.server_cpu, load_cpu=args.load_cpu)
    backends = [Backend("memory", {})]
    if args.redis_url:
        backends.append(redis_backend(args.redis_url))
    report = _report(argv, args, pinning, backends)
    for backend in backends:
        for name in args.endpoints:
            report.runs.append(measure(ENDPOINTS[name], backend, args, pinning))
            report.target_met = target_met(report.runs)
            write_json(report, args.output)  # after every run, so an interrupted benchmark keeps its results
    print(markdown(report))
    print(f"\nwritten to {args.output}", file=sys.stderr)
    return 0 if all(run.ok for run in report.runs) else 1


def _report(
    argv: Sequence[str] | None, args: argparse.Namespace, pinning: Pinning, backends: list[Backend]
) -> Report:
    """The report before any run: the command, the machine and the settings."""
    return Report(
        command=_command(argv),
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT),
        wrk=wrk_version(),
        pinning=pinning.description,
        threads=args.threads,
        connections=args.connections,
        duration_s=args.duration,
        warmup_s=args.warmup,
        repeat=args.repeat,
        wait_quiet_s=args.wait_quiet,
        auth="operator token (operator requests are not rate limited by default)",
        target=TARGET,
        target_met=None,
        runs=[],
        notes=_notes(backends, [ENDPOINTS[name] for name in args.endpoints]),
    )


def _notes(backends: list[Backend], endpoints: list[Endpoint]) -> list[str]:
    notes = [f"{b.name} backend: {b.note}" for b in backends if b.note]
    return notes + [f"`{e.method} {e.path}`: {e.note}" for e in endpoints if e.note]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.rest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-t", "--threads", type=_positive, default=1, help="wrk threads (default 1)")
    parser.add_argument("-c", "--connections", type=_positive, default=16, help="connections (default 16)")
    parser.add_argument("-d", "--duration", type=_positive, default=15, help="measured seconds (default 15)")
    parser.add_argument("--warmup", type=int, default=5, help="warm-up seconds, not recorded (default 5)")
    parser.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        help="measured runs per endpoint; the one with the median req/s is reported (default 1)",
    )
    parser.add_argument(
        "--endpoints",
        type=_endpoint_list,
        default=list(ENDPOINTS),
        help=f"comma-separated, from {','.join(ENDPOINTS)} (default: all)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help=f"before each measured run, wait up to this long for the machine to stay under "
        f"{QUIET_BELOW_PCT:g}%% of a core busy for {QUIET_FOR_S:g} s (for shared machines; default 0)",
    )
    parser.add_argument("--redis-url", help="also measure the Redis backend (sets COMPANION_REDIS_URL)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to CPUs")
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU for the server (default 0)")
    parser.add_argument("--load-cpu", type=int, default=1, help="CPU for wrk (default 1)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _endpoint_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in ENDPOINTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown endpoint(s) {unknown}; choose from {','.join(ENDPOINTS)}")
    return names


def _command(argv: Sequence[str] | None) -> str:
    given = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", "-m", "benchmarks.rest", *given])


def redis_backend(url: str) -> Backend:
    """Redis at `url`, under a key prefix of its own so nothing else's keys are touched."""
    prefix = f"cvbench:{secrets.token_hex(4)}:"
    note = (
        "keys under a prefix of the run's own, deleted afterwards; the Redis server is not started or "
        "pinned by the benchmark; on loopback its CPU is read from its INFO and shown as `redis`"
    )
    return Backend("redis", {"COMPANION_REDIS_URL": url, "COMPANION_REDIS_KEY_PREFIX": prefix}, note)


def measure(endpoint: Endpoint, backend: Backend, args: argparse.Namespace, pinning: Pinning) -> RunResult:
    """Start a server for this endpoint, warm it up, measure it; FAILED (not raised) on any error."""
    env = {**backend.server_env, **endpoint.server_env}
    result = RunResult(
        backend=backend.name,
        endpoint=endpoint.name,
        method=endpoint.method,
        path=endpoint.path,
        server_env={k: v for k, v in env.items() if k != "COMPANION_REDIS_URL"},
        note=endpoint.note,
    )
    print(f"{backend.name} {endpoint.method} {endpoint.path}: starting server", file=sys.stderr)
    try:
        with running_server(extra_env=env, cpu_prefix=pinning.server) as server:
            _load(server, endpoint, backend, result, args, pinning)
    except WrkError as exc:
        result.failure, result.wrk_output = str(exc), exc.output
    except (ServerError, OSError) as exc:
        result.failure = str(exc)
    finally:
        if backend.name == "redis":
            _delete_keys(backend)
    if result.failure:
        print(f"  FAILED: {result.failure.splitlines()[0]}", file=sys.stderr)
    return result


def _load(
    server: RunningServer,
    endpoint: Endpoint,
    backend: Backend,
    result: RunResult,
    args: argparse.Namespace,
    pinning: Pinning,
) -> None:
    token = server.operator_token()
    request = endpoint.request(token=token, device_id=server.register_device(token))
    status, body = server.request(request.method, request.path, token=token, body=request.body)
    if status != 200:
        result.failure = f"pre-flight {request.method} {request.path} answered {status}: {body}"
        return
    runs = _wrk_runs(server, request, backend, result, args, pinning)
    result.repeats = [measurement for _, measurement in runs]
    failed = [(run, m) for run, m in runs if m.errors.socket or m.errors.status]
    run, result.measured = failed[0] if failed else _median(runs)
    result.wrk_command, result.wrk_output = run.command, run.output
    if failed:
        errors = result.measured.errors
        result.failure = (
            f"{errors.status} responses above 399 and {errors.socket} socket errors "
            f"(connect {errors.connect}, read {errors.read}, write {errors.write}, timeout {errors.timeout})"
        )
    else:
        result.ok = True


def _wrk_runs(
    server: RunningServer,
    request: Request,
    backend: Backend,
    result: RunResult,
    args: argparse.Namespace,
    pinning: Pinning,
) -> list[tuple[WrkRun, Measurement]]:
    """The warm-up (kept in `result.warmup`), then `args.repeat` measured runs with their CPU use."""
    with tempfile.TemporaryDirectory(prefix="companion-wrk-") as tmp:
        script = Path(tmp) / "request.lua"
        script.write_text(lua_script(request))

        def wrk(duration_s: int) -> WrkRun:
            return run_wrk(
                url=server.api_url + request.path,
                script=script,
                threads=args.threads,
                connections=args.connections,
                duration_s=duration_s,
                cpu_prefix=pinning.load,
            )

        if args.warmup > 0:
            print(f"  warm-up {args.warmup} s", file=sys.stderr)
            result.warmup = Measurement.of(wrk(args.warmup))
        runs: list[tuple[WrkRun, Measurement]] = []
        for number in range(1, args.repeat + 1):
            waited = None
            if args.wait_quiet > 0:
                waited = wait_until_quiet(
                    busy_below_pct=QUIET_BELOW_PCT, for_s=QUIET_FOR_S, timeout_s=args.wait_quiet
                )
            print(f"  measuring {args.duration} s ({number}/{args.repeat})", file=sys.stderr)
            before = sample(server.pid, redis_s=backend.redis_cpu_s())
            run = wrk(args.duration)
            cpu = usage(before, sample(server.pid, redis_s=backend.redis_cpu_s()))
            runs.append((run, Measurement.of(run, cpu=cpu, waited_for_quiet_s=waited)))
        return runs


def _median(runs: list[tuple[WrkRun, Measurement]]) -> tuple[WrkRun, Measurement]:
    """The run with the median throughput (the lower one of an even count), with its own latencies."""
    ranked = sorted(runs, key=lambda pair: pair[1].requests_per_s)
    return ranked[(len(ranked) - 1) // 2]


def _delete_keys(backend: Backend) -> None:
    """Remove what the run left in Redis (only keys under its own prefix)."""
    import redis

    client = redis.Redis.from_url(backend.server_env["COMPANION_REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=backend.server_env["COMPANION_REDIS_KEY_PREFIX"] + "*"))
        if keys:
            client.delete(*keys)
    except redis.RedisError as exc:
        print(f"  could not clean up the benchmark's Redis keys: {exc}", file=sys.stderr)
    finally:
        client.close()
