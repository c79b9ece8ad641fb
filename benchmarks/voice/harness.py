"""Voice-to-voice: WAV files spoken to the server over the device WebSocket, timed as a device hears them.

Each device registers itself, connects with `?sample_rate=16000` and streams
its microphone in real time (20 ms binary frames on a wall-clock schedule),
silence between utterances and after each one until the reply's final
`audio_response`. A turn is timed from the end of speech in the file (found
from the audio) to the first reply audio received; the server's own per-stage
breakdown and the transcript (with its WER against the manifest) are kept.
With `--concurrency N`, N devices say their turns at the same moment. The
first `--warmup` turns of every device are excluded. A reply without audio
fails the run: "server sent no audio".

On the human clips (`--clips human-dev human-held-out`) every speaker talks in
device sessions of their own, one speaker after another (`--session-per-speaker`,
on by default there; see `benchmarks.voice.sessions`): the server learns a
speaker's pauses within a session, and must not carry one person's over to the
next. Otherwise each device is one session for the whole run.

`--target pipecat` drives the stock pipecat reference bot
(`benchmarks.reference`) the same way, through its own `VoiceLink`; `--target
both` measures this server, then the bot, on the same files, and reports both
and the ratio of this server's p50/p90 to stock pipecat's.

    .venv/bin/python -m benchmarks.voice                       # starts a server, every fixture once
    .venv/bin/python -m benchmarks.voice --repetitions 5 --json voice.json --markdown
    .venv/bin/python -m benchmarks.voice --url http://127.0.0.1:8080 --token "$OPERATOR_TOKEN"
    .venv/bin/python -m benchmarks.voice --target both --json voice-vs-pipecat.json --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from benchmarks.lib.clips import PARTS, Clip, load_clips, load_parts
from benchmarks.lib.device import DeviceError, DeviceSocket, of_type, operator_client, register_device
from benchmarks.lib.machine import VOICE_PACKAGES, describe_machine
from benchmarks.lib.microphone import Microphone
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT
from benchmarks.lib.targets import (
    Target,
    TargetKind,
    add_reference_arguments,
    add_target_arguments,
    cpu_mark,
    cpu_since,
    target_kinds,
    voice_target,
    wait_quiet,
)
from benchmarks.lib.voice_link import CompanionLink, VoiceLink
from benchmarks.voice.comparison import SideBySide, side_by_side
from benchmarks.voice.comparison import markdown as comparison_markdown
from benchmarks.voice.config import HarnessConfig
from benchmarks.voice.report import HarnessReport, build_report, markdown
from benchmarks.voice.sessions import device_sessions
from benchmarks.voice.turn import NoAudioError, TurnResult, measure_turn

LEAD_IN_S = 0.5
"""Silence streamed before a device's first turn, as a device's microphone would be open already."""
SWITCH_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class DeviceStats:
    late_frames: int
    max_lateness_ms: float


Opened = tuple[VoiceLink, Microphone]
OpenSession = Callable[[int, int], contextlib.AbstractAsyncContextManager[Opened]]
"""Opens session `index` of device `number`: connected, its microphone streaming; closed on exit."""


@dataclass(frozen=True)
class _Run:
    """What every device of a run shares."""

    config: HarnessConfig
    open_session: OpenSession
    barrier: asyncio.Barrier
    """Devices start each turn together."""
    progress: Progress | None


async def run_harness(config: HarnessConfig) -> tuple[list[TurnResult], list[DeviceStats]]:
    """Every device's turns (warm-up included, flagged); raises `NoAudioError` if a reply has no audio."""
    if config.target == "pipecat" and config.persona:
        raise ValueError("the pipecat reference bot speaks as the default persona only: no persona switch")
    turns_per_device = config.warmup + len(config.clips) * config.repetitions
    progress = Progress(config.concurrency * turns_per_device, "voice") if config.progress else None
    async with contextlib.AsyncExitStack() as stack:
        run = _Run(
            config, await _session_opener(config, stack), asyncio.Barrier(config.concurrency), progress
        )
        # Every device's first session is open before any device speaks.
        firsts: list[tuple[contextlib.AsyncExitStack, Opened]] = []
        for number in range(config.concurrency):
            first = await stack.enter_async_context(contextlib.AsyncExitStack())
            firsts.append((first, await first.enter_async_context(run.open_session(number, 0))))
        results: list[list[TurnResult]] = [[] for _ in firsts]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(_talk(run, number, first, results[number]))
                    for number, first in enumerate(firsts)
                ]
        except ExceptionGroup as errors:
            raise _first(errors) from None
    return [turn for device_turns in results for turn in device_turns], [task.result() for task in tasks]


async def _session_opener(config: HarnessConfig, stack: contextlib.AsyncExitStack) -> OpenSession:
    """How a device session opens: a newly registered device of this server (its REST client closed
    with `stack`), or a new connection to the stock pipecat bot."""
    if config.target == "pipecat":
        # Imported here: it loads pipecat's protobuf frames, which a run against this server never needs.
        from benchmarks.reference.link import PipecatLink

        @contextlib.asynccontextmanager
        async def pipecat(number: int, index: int) -> AsyncIterator[Opened]:
            async with _streaming(await PipecatLink.open(config.base_url)) as opened:
                yield opened

        return pipecat
    http = await stack.enter_async_context(operator_client(config.base_url, config.token))

    @contextlib.asynccontextmanager
    async def ours(number: int, index: int) -> AsyncIterator[Opened]:
        name = f"voice-bench-{number}" + (f"-{index}" if index else "")
        device_id, token = await register_device(http, name)
        async with _connected(config, http, device_id, token) as opened:
            yield opened

    return ours


@contextlib.asynccontextmanager
async def _connected(
    config: HarnessConfig, http: httpx.AsyncClient, device_id: str, token: str
) -> AsyncIterator[tuple[VoiceLink, Microphone]]:
    """One of this server's devices, connected (and on `config.persona`), its microphone streaming."""
    device = await DeviceSocket.connect(config.base_url, device_id, token)
    try:
        if config.persona:
            await _switch_persona(config, http, device)
    except BaseException:
        await device.close()
        raise
    async with _streaming(CompanionLink(device)) as streaming:
        yield streaming


@contextlib.asynccontextmanager
async def _streaming(link: VoiceLink) -> AsyncIterator[tuple[VoiceLink, Microphone]]:
    """`link` with its microphone streaming (after `LEAD_IN_S` of silence); closed on exit."""
    try:
        async with Microphone(link) as microphone:
            await asyncio.sleep(LEAD_IN_S)
            yield link, microphone
    finally:
        await link.close()


async def _switch_persona(config: HarnessConfig, http: httpx.AsyncClient, device: DeviceSocket) -> None:
    """Put the device's session on `config.persona` (unless it is on it already) and ack the switch."""
    connected = device.received(of_type("connected"))[0]
    if connected.payload.get("active_persona_id") == config.persona:
        return
    since = device.mark()
    response = await http.post(
        f"/devices/{device.device_id}/persona/switch", json={"target_persona_id": config.persona}
    )
    if response.status_code != 200:
        raise DeviceError(f"switching to {config.persona!r} answered {response.status_code}: {response.text}")
    switch = await device.wait_for(of_type("persona_switch"), since=since, timeout=SWITCH_TIMEOUT_S)
    await device.send("ack", {"command_id": switch.payload["command_id"], "status": "ok"})


async def _talk(
    run: _Run, number: int, first: tuple[contextlib.AsyncExitStack, Opened], results: list[TurnResult]
) -> DeviceStats:
    """Say the turns of each of the device's sessions (`benchmarks.voice.sessions`), one session after
    another, each closed before the next opens."""
    config, progress = run.config, run.progress
    sessions = device_sessions(
        config.clips,
        device=number,
        warmup=config.warmup,
        repetitions=config.repetitions,
        per_speaker=config.session_per_speaker,
    )
    turn, late_frames, max_lateness_s = 0, 0, 0.0
    for index, session in enumerate(sessions):
        if index == 0:
            session_stack, (device, microphone) = first
        else:
            session_stack = contextlib.AsyncExitStack()
            device, microphone = await session_stack.enter_async_context(run.open_session(number, index))
        async with session_stack:
            for planned in session:
                await run.barrier.wait()
                result = await measure_turn(
                    device,
                    microphone,
                    planned.clip,
                    device_number=number,
                    turn=turn,
                    warmup=planned.warmup,
                    reply_timeout_s=config.reply_timeout_s,
                    no_reply_ok=config.no_reply_ok,
                )
                turn += 1
                results.append(result)
                if progress is not None:
                    tag = " (warm-up)" if result.warmup else ""
                    over = f", talked over {result.talk_over_s:g} s" if result.talk_over_s else ""
                    progress.advance(f"{planned.clip.name}: {result.voice_to_voice_ms:.0f} ms{over}{tag}")
        late_frames += microphone.late_frames
        max_lateness_s = max(max_lateness_s, microphone.max_lateness_s)
    return DeviceStats(late_frames, round(max_lateness_s * 1000, 1))


def _first(errors: BaseExceptionGroup[Exception]) -> Exception:
    """The first failure of a group: one device's failure stops every device."""
    first = errors.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.persona and args.target != "ours":
        raise SystemExit("--persona applies to this server only: the pipecat bot has the default persona")
    clips = load_parts(args.clips) if args.clips else load_clips(args.files)
    reports: dict[TargetKind, HarnessReport] = {}
    for kind in target_kinds(args):
        with voice_target(args, kind=kind) as target:
            report = _measure(args, target, clips, argv)
        if report is None:
            return 1
        reports[kind] = report
    result: HarnessReport | SideBySide = (
        side_by_side(reports["ours"], reports["pipecat"])
        if len(reports) == 2
        else next(iter(reports.values()))
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(msgspec.json.format(msgspec.json.encode(result), indent=2) + b"\n")
        print(f"written to {args.json}", file=sys.stderr)
    if args.markdown or not args.json:
        print(comparison_markdown(result) if isinstance(result, SideBySide) else markdown(result))
    return 0


def _measure(
    args: argparse.Namespace, target: Target, clips: list[Clip], argv: Sequence[str] | None
) -> HarnessReport | None:
    config = HarnessConfig(
        base_url=target.base_url,
        token=target.token,
        clips=clips,
        repetitions=args.repetitions,
        concurrency=args.concurrency,
        persona=args.persona,
        warmup=args.warmup,
        reply_timeout_s=args.reply_timeout,
        no_reply_ok=bool(args.clips),
        target=target.kind,
        session_per_speaker=_per_speaker(args),
    )
    waited_s = wait_quiet(args)
    started = datetime.now(UTC)
    mark = cpu_mark(target.pid)
    try:
        turns, devices = asyncio.run(run_harness(config))
    except (NoAudioError, DeviceError) as error:
        print(f"\nFAILED ({target.kind}): {error}", file=sys.stderr)
        return None
    return build_report(
        command=_command(argv),
        generated_at=started,
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        server=target.description,
        config=config,
        turns=turns,
        late_frames=sum(d.late_frames for d in devices),
        max_lateness_ms=max(d.max_lateness_ms for d in devices),
        cpu=cpu_since(mark, target.pid),
        waited_for_quiet_s=waited_s,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.voice",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    add_reference_arguments(parser)
    parser.add_argument("--files", nargs="+", type=Path, help="WAV files (default: every audio fixture)")
    parser.add_argument(
        "--clips",
        nargs="+",
        choices=PARTS,
        help="sets of clips instead of --files: the synthetic fixtures, the human set's dev, held-out or "
        "natural part (audio_fixtures/human; timed from each clip's labelled turn end); reported per set",
    )
    parser.add_argument(
        "--session-per-speaker",
        action=argparse.BooleanOptionalAction,
        help="each speaker's clips in device sessions of their own (a newly registered device; for stock "
        "pipecat a new connection), as a person talking to their own device: the warm-up turns in a session "
        "first, then per repetition one session per set and speaker, speakers one after another, each one's "
        "clips in manifest order. Default: on with human clips (--clips human-dev / human-held-out), where "
        "the fixtures of the same run stay in one session; off otherwise (one session per device)",
    )
    parser.add_argument("--repetitions", type=_positive, default=1, help="times each file is said")
    parser.add_argument("--concurrency", type=_positive, default=1, help="devices talking at once")
    parser.add_argument("--persona", help="persona the devices talk to (default: the server's default)")
    parser.add_argument(
        "--warmup", type=int, default=1, help="turns per device said first and excluded (default 1)"
    )
    parser.add_argument(
        "--reply-timeout",
        type=float,
        default=15.0,
        help="seconds from the end of an utterance to the first reply audio; later fails the run",
    )
    parser.add_argument("--json", type=Path, help="write the full report (every turn) as JSON here")
    parser.add_argument(
        "--markdown", action="store_true", help="print the Markdown report (always without --json)"
    )
    return parser


def _per_speaker(args: argparse.Namespace) -> bool:
    """`--session-per-speaker` as given, else on when human clips are said."""
    if args.session_per_speaker is not None:
        return bool(args.session_per_speaker)
    return any(part.startswith("human") for part in args.clips or [])


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _command(argv: Sequence[str] | None) -> str:
    given = list(sys.argv[1:] if argv is None else argv)
    return shlex.join([".venv/bin/python", "-m", "benchmarks.voice", *given])
