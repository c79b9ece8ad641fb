"""One device floods `POST /dialog/send` with noise recordings; another device's spoken turns are timed.

The attack of issue 12: a device token sending long WAVs of white noise to the REST dialog,
several requests at once, so the shared recogniser transcribes noise while other devices talk.
Measured: voice-to-voice of a second device talking over its socket (the fixtures, one turn
after another, as `benchmarks.voice` times them: from the end of the user's speech to the
first reply audio at the device), first with nothing else going on, then while the flood runs.
The target: the second device's p99 unchanged by the flood.

The server is started with its default limits (the attacker gets what any device gets:
`COMPANION_DIALOG_TURNS_PER_MINUTE`, one recording in progress at a time, the longest
recording taken), unlike the other voice benchmarks, which lift the limits for their devices;
the talking device stays far under them. The flood keeps `--streams` requests going at once,
each a `--noise-s` recording; a refused request (429) is retried after `Retry-After`, at most
`--max-pause-s` (a polite attacker: one that retries at once only adds cheap refusals).

    .venv/bin/python -m benchmarks.noise_flood --turns 20 --wait-quiet 300
"""

from __future__ import annotations

import argparse
import asyncio
import base64
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import numpy as np

from benchmarks.lib.cli import command_line, finish
from benchmarks.lib.clips import Clip, load_clips
from benchmarks.lib.device import DeviceSocket, operator_client, register_device
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.microphone import Microphone
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT, running_server
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import (
    STARTUP_TIMEOUT_S,
    CpuWindow,
    add_quiet_argument,
    cpu_mark,
    cpu_since,
    wait_quiet,
)
from benchmarks.noise_flood.report import markdown
from benchmarks.voice.turn import measure_turn
from pipeline.audio import wav_bytes
from server.paths import API_PREFIX

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "noise_flood.json"
SERVER_ENV = {"COMPANION_VOICE_ENABLED": "true", "COMPANION_LOG_LEVEL": "WARNING"}
"""Voice on, every limit at its default (the attacker is an ordinary device)."""
RATE = 16_000
REPLY_TIMEOUT_S = 30.0


class Phase(msgspec.Struct, kw_only=True):
    name: str
    voice_to_voice_ms: list[float]
    summary: Summary | None
    server_asr_ms: Summary | None
    """End of speech → final transcript of each turn, from the server's own `latency_ms` breakdown."""
    flood_answers: dict[str, int]
    """The flood's answers by HTTP status (`422 no_speech` apart), during the phase."""
    cpu: CpuWindow


class Report(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    server: str
    settings: dict[str, object]
    phases: list[Phase]


class Flood:
    """`streams` request loops of one device, each sending a noise recording again as soon as answered."""

    def __init__(
        self, base_url: str, device_id: str, token: str, *, noise_s: float, streams: int, max_pause_s: float
    ):
        self._client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=120, trust_env=False
        )
        rng = np.random.default_rng(12)
        pcm = np.clip(rng.normal(0, 3000, size=int(noise_s * RATE)), -32768, 32767).astype(np.int16)
        body = {"device_id": device_id, "audio_base64": base64.b64encode(wav_bytes(pcm, RATE)).decode()}
        self._body = msgspec.json.encode(body)  # encoded once: the client's own CPU stays out of the figures
        self._streams = streams
        self._max_pause_s = max_pause_s
        self.answers: Counter[str] = Counter()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self._streams)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                response = await self._client.post(
                    "/dialog/send", content=self._body, headers={"Content-Type": "application/json"}
                )
            except httpx.HTTPError as exc:
                self.answers[type(exc).__name__] += 1
                await asyncio.sleep(self._max_pause_s)
                continue
            self.answers[_label(response)] += 1
            if response.status_code == 429:
                retry = float(response.headers.get("retry-after", "1"))
                await asyncio.sleep(min(retry, self._max_pause_s))


def _label(response: httpx.Response) -> str:
    if response.status_code == 422:
        reason = response.json().get("details", {}).get("reason")
        return f"422 {reason}"
    return str(response.status_code)


async def run(args: argparse.Namespace, base_url: str, token: str, pid: int) -> list[Phase]:
    clips = load_clips()
    async with operator_client(base_url, token) as http:
        talker_id, talker_token = await register_device(http, "talker")
        flooder_id, flooder_token = await register_device(http, "flooder")
    socket = await DeviceSocket.connect(base_url, talker_id, talker_token)
    phases = []
    try:
        async with Microphone(socket) as microphone:
            for n, clip in enumerate(clips[: args.warmup]):
                await measure_turn(
                    socket,
                    microphone,
                    clip,
                    device_number=0,
                    turn=n,
                    warmup=True,
                    reply_timeout_s=REPLY_TIMEOUT_S,
                )
            phases.append(await _phase("no flood", args, socket, microphone, clips, None, pid))
            flood = Flood(
                base_url + API_PREFIX,
                flooder_id,
                flooder_token,
                noise_s=args.noise_s,
                streams=args.streams,
                max_pause_s=args.max_pause_s,
            )
            phases.append(await _phase("noise flood", args, socket, microphone, clips, flood, pid))
    finally:
        await socket.close()
    return phases


async def _phase(
    name: str,
    args: argparse.Namespace,
    socket: DeviceSocket,
    microphone: Microphone,
    clips: list[Clip],
    flood: Flood | None,
    pid: int,
) -> Phase:
    progress = Progress(args.turns, name)
    mark = cpu_mark(pid)
    if flood is not None:
        flood.start()
        await asyncio.sleep(args.flood_lead_s)  # the flood under way before the first turn
    times, asr = [], []
    try:
        for n in range(args.turns):
            clip = clips[n % len(clips)]
            result = await measure_turn(
                socket,
                microphone,
                clip,
                device_number=0,
                turn=n,
                warmup=False,
                reply_timeout_s=REPLY_TIMEOUT_S,
            )
            times.append(result.voice_to_voice_ms)
            if "transcript_final" in result.server_ms:
                asr.append(result.server_ms["transcript_final"])
            progress.advance(f"{result.voice_to_voice_ms:.0f} ms")
    finally:
        if flood is not None:
            await flood.stop()
    return Phase(
        name=name,
        voice_to_voice_ms=times,
        summary=summarize(times),
        server_asr_ms=summarize(asr),
        flood_answers=dict(sorted(flood.answers.items())) if flood is not None else {},
        cpu=cpu_since(mark, pid),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = command_line("benchmarks.noise_flood", argv)
    waited_s = wait_quiet(args)
    with running_server(extra_env=SERVER_ENV, cpu_prefix=[], startup_timeout_s=STARTUP_TIMEOUT_S) as server:
        token = server.operator_token()
        phases = asyncio.run(run(args, server.base_url, token, server.pid))
    report = Report(
        command=command,
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT),
        server=f"started by the benchmark (pid {server.pid}), default limits",
        settings={
            "turns": args.turns,
            "warmup": args.warmup,
            "noise_s": args.noise_s,
            "streams": args.streams,
            "max_pause_s": args.max_pause_s,
            "flood_lead_s": args.flood_lead_s,
            "waited_for_quiet_s": round(waited_s, 1),
        },
        phases=phases,
    )
    return finish(args, report, markdown, markdown_file=args.markdown)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.noise_flood", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--turns", type=int, default=20, help="timed turns of the talking device per phase")
    parser.add_argument("--warmup", type=int, default=2, help="untimed turns first")
    parser.add_argument("--noise-s", type=float, default=29.5, help="seconds of noise per flood request")
    parser.add_argument("--streams", type=int, default=4, help="flood requests kept going at once")
    parser.add_argument("--max-pause-s", type=float, default=1.0, help="longest wait after a refusal")
    parser.add_argument("--flood-lead-s", type=float, default=3.0, help="flood time before the first turn")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    add_quiet_argument(parser)
    return parser
