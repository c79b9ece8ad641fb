"""WebRTC devices against WebSocket devices, on one server in one run: voice-to-voice, and idle capacity.

**Voice-to-voice.** One WebSocket device (16 kHz binary frames, as `benchmarks.voice`) and one
WebRTC device (`benchmarks.lib.webrtc_device`: its microphone track carries the same clip at
48 kHz as Opus, and the reply plays on the server's track) say the fixtures, turn about. Both
count from the end of the clip's speech (the moment a device capturing 20 ms frames would have
sent it). The target's figure is the first audible reply sample as it reaches the device: on the
socket, the first `audio_response` chunk's arrival plus the audio before that sample in the chunks;
on the track, the arrival of the RTP packet that carries it (the device records every packet its
jitter buffer takes). Neither counts a playout buffer, which is the device's own choice; the
report also gives the first reply data (the socket's first chunk, the track's first packet that is
not the server's silence packet), the frame out of the device's decoder, and when aiortc's stock
jitter buffer (prefetch 4) would have released that packet, the same packets replayed through it.
The final `audio_response`'s `latency_ms` (from the server's VAD speech end) is kept for every
turn of both, so a gap shows as before or after the server's end of speech. The target: WebRTC
p50 within 40 ms of the WebSocket's.

**Idle capacity.** Then `--idle` WebRTC devices connect and stream silence in real time (Opus,
decoded by the server at the edge, into the listening stage like any device), each with a
heartbeat on its `events` channel every `--heartbeat-s`. Over `--window-s` the server's CPU is
measured against a window with no device; the devices keep up in real time when heartbeats are
answered promptly and each device's reply track delivers its 50 frames a second.

    .venv/bin/python -m benchmarks.webrtc --turns 24 --idle 50 --wait-quiet 300
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np

from benchmarks.lib.cli import command_line, write_json
from benchmarks.lib.clips import Clip, load_clips
from benchmarks.lib.device import DeviceSocket, Received, of_type, operator_client, register_device
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.microphone import FRAME_S, Microphone
from benchmarks.lib.progress import Progress
from benchmarks.lib.server_process import ROOT, running_server
from benchmarks.lib.stats import Summary, summarize
from benchmarks.lib.targets import (
    STARTUP_TIMEOUT_S,
    VOICE_SERVER_ENV,
    CpuWindow,
    add_quiet_argument,
    cpu_mark,
    cpu_since,
    wait_quiet,
)
from benchmarks.lib.webrtc_device import FRAME_SAMPLES, WebRTCDevice, at_48k, stock_release_times
from benchmarks.voice.turn import measure_turn
from benchmarks.webrtc.report import markdown

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "webrtc.json"
REPLY_TIMEOUT_S = 30.0
AUDIBLE_PEAK = 300
"""A sample above this (-41 dBFS) is the reply heard: a voice's output starts with a little near-silence,
which a socket's first chunk carries and a track plays before it; both transports are timed to it."""
WEBRTC_RATE_FACTOR = 3
"""48 kHz / 16 kHz: a clip's sample index on the WebRTC microphone."""


class Turns(msgspec.Struct, kw_only=True):
    websocket_first_chunk: Summary | None
    """End of speech → arrival of the reply's first chunk (`benchmarks.voice`'s figure)."""
    webrtc_first_packet: Summary | None
    """End of speech → arrival of the first RTP packet of reply audio (not the server's silence packet):
    the WebSocket's first chunk's counterpart."""
    websocket_ms: list[float]
    """End of speech → the first audible sample, played from the chunks' arrival (the target's figure)."""
    webrtc_ms: list[float]
    """End of speech → arrival of the packet holding the first audible sample (the target's figure)."""
    websocket: Summary | None
    webrtc: Summary | None
    p50_difference_ms: float | None
    """WebRTC p50 less WebSocket p50, first audible sample at its arrival (the target)."""
    ratio_p50: float | None
    first_data_p50_difference_ms: float | None
    """WebRTC first packet p50 less WebSocket first chunk p50."""
    webrtc_decoded: Summary | None
    """End of speech → the first audible frame out of the device's decoder (each packet decoded as it
    arrives: the device's playout with no jitter buffer)."""
    webrtc_stock_buffer: Summary | None
    """End of speech → when aiortc's stock audio jitter buffer (prefetch 4) would have released that
    packet to the decoder (the same packets replayed through it)."""
    websocket_outside_server_ms: Summary | None
    """First chunk's arrival less the server's first_byte_sent (both from the end of speech): the time
    before the server's VAD saw the speech end, plus the delivery after it was handed over."""
    webrtc_outside_server_ms: Summary | None
    """First reply packet's arrival less the server's first_byte_sent, likewise."""
    websocket_breakdown_p50_ms: dict[str, float]
    """p50 of each stage of the final audio_response's latency_ms (from the server's VAD speech end)."""
    webrtc_breakdown_p50_ms: dict[str, float]
    websocket_onset_ms: Summary | None
    """First chunk's arrival → first audible sample: what of the reply's opening plays before its voice."""
    webrtc_onset_ms: Summary | None
    """First reply packet's arrival → arrival of the packet with the first audible sample, likewise."""
    webrtc_turns: list[dict[str, float]]
    """Per WebRTC turn: every figure above and the server's breakdown."""
    websocket_turns: list[dict[str, float]]
    """Per WebSocket turn: first chunk and first audible sample (ms from the end of speech)."""
    websocket_breakdowns: list[dict[str, float]]
    """Per WebSocket turn: the server's breakdown."""
    webrtc_server_first_byte_ms: Summary | None
    """The server's own end of speech → first reply audio handed to the transport, WebRTC turns."""
    websocket_server_first_byte_ms: Summary | None
    cpu: CpuWindow


class Idle(msgspec.Struct, kw_only=True):
    devices: int
    connect_s: float
    baseline: CpuWindow
    loaded: CpuWindow
    server_pct_per_device: float | None
    heartbeat_rtt_ms: Summary | None
    heartbeats_unanswered: int
    reply_frames_per_s: Summary | None
    """Frames each device's incoming track delivered per second over the window (50 is real time)."""


class Report(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    server: str
    settings: dict[str, object]
    turns: Turns | None
    idle: Idle | None


def _audible_offset_ms(messages: list[Received]) -> float:
    """When the reply's first audible sample plays, in ms after its first chunk arrived: the chunks
    play one after another, each no earlier than its arrival (a device cannot play a chunk it has
    not got, as the track cannot send audio it has not got)."""
    chunks = [m for m in messages if m.payload.get("final") is False]
    if not chunks:
        return 0.0
    cursor = 0.0
    for message in chunks:
        cursor = max(cursor, (message.at - chunks[0].at) * 1000)
        pcm = np.frombuffer(base64.b64decode(message.payload["audio_b64"]), dtype="<i2")
        rate = int(message.payload["sample_rate"])
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > AUDIBLE_PEAK)
        if loud.size:
            return cursor + float(loud[0]) / rate * 1000
        cursor += len(pcm) / rate * 1000
    return cursor


async def _webrtc_turn(device: WebRTCDevice, microphone: Microphone, clip: Clip) -> dict[str, float]:
    """One turn's figures (ms from the end of speech) and the server's breakdown (`server_*`)."""
    since = device.mark()
    utterance = await microphone.say(
        at_48k(clip.pcm, 16_000), mark_sample=clip.end_sample * WEBRTC_RATE_FACTOR
    )
    final = await device.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_TIMEOUT_S)
    await device.wait_for(
        of_type("led_control", state="listening"), since=final.index + 1, timeout=REPLY_TIMEOUT_S
    )
    speaker = device.speaker
    heard = speaker.first_audible_frame(utterance.mark_at, peak=AUDIBLE_PEAK)
    first = speaker.first_reply_packet(utterance.mark_at)
    if heard is None or heard.arrival is None or first is None:
        raise RuntimeError(f"no reply audio heard on the track for {clip.name!r}")
    arrivals = speaker.buffer.arrivals
    stock = stock_release_times(arrivals)[arrivals.index(heard.arrival)]

    def ms(at: float) -> float:
        return round((at - utterance.mark_at) * 1000, 1)

    figures = {
        "first_packet": ms(first.at),
        "audible_arrival": ms(heard.arrival.at),
        "audible_decoded": ms(heard.at),
    }
    if stock is not None:
        figures["audible_stock_buffer"] = ms(stock)
    latency = dict(final.payload.get("latency_ms") or {})
    figures.update({f"server_{stage}": value for stage, value in latency.items()})
    return figures


def _p50s(breakdowns: list[dict[str, float]]) -> dict[str, float]:
    stages = dict.fromkeys(stage for breakdown in breakdowns for stage in breakdown)
    p50s = {stage: summarize([b[stage] for b in breakdowns if stage in b]) for stage in stages}
    return {stage: s.p50 for stage, s in p50s.items() if s is not None}


def _answer_turn(socket: DeviceSocket, since: int) -> object:
    """The turn id of the reply that was timed: the final `audio_response` after `since`."""
    finals = socket.received(of_type("audio_response", final=True), since=since)
    return finals[-1].payload.get("turn_id") if finals else None


async def run_turns(args: argparse.Namespace, base_url: str, token: str, pid: int) -> Turns:
    clips = [clip for clip in load_clips() if clip.speech_end_s is not None]
    async with operator_client(base_url, token) as http:
        ws_id, ws_token = await register_device(http, "websocket")
        rtc_id, rtc_token = await register_device(http, "webrtc")
    socket = await DeviceSocket.connect(base_url, ws_id, ws_token)
    peer = await WebRTCDevice.connect(base_url, rtc_id, rtc_token)
    ws_ms: list[float] = []
    rtc_ms: list[float] = []
    ws_server: list[float] = []
    ws_first_chunk: list[float] = []
    rtc_turns: list[dict[str, float]] = []
    ws_breakdowns: list[dict[str, float]] = []
    ws_outside: list[float] = []
    progress = Progress(args.turns, "voice-to-voice")
    try:
        async with Microphone(socket) as ws_mic, Microphone(peer, sample_rate=48_000) as rtc_mic:
            for n in range(args.warmup):
                clip = clips[n % len(clips)]
                await measure_turn(
                    socket,
                    ws_mic,
                    clip,
                    device_number=0,
                    turn=n,
                    warmup=True,
                    reply_timeout_s=REPLY_TIMEOUT_S,
                )
                await _webrtc_turn(peer, rtc_mic, clip)
            mark = cpu_mark(pid)
            for n in range(args.turns):
                clip = clips[n % len(clips)]
                since = socket.mark()
                result = await measure_turn(
                    socket,
                    ws_mic,
                    clip,
                    device_number=0,
                    turn=n,
                    warmup=False,
                    reply_timeout_s=REPLY_TIMEOUT_S,
                )
                reply = socket.received(
                    of_type("audio_response", turn_id=_answer_turn(socket, since)), since=since
                )
                ws_ms.append(round(result.voice_to_voice_ms + _audible_offset_ms(reply), 1))
                ws_first_chunk.append(result.voice_to_voice_ms)
                ws_breakdowns.append(dict(result.server_ms))
                if "first_byte_sent" in result.server_ms:
                    ws_server.append(result.server_ms["first_byte_sent"])
                    ws_outside.append(
                        round(result.voice_to_voice_ms - result.server_ms["first_byte_sent"], 1)
                    )
                rtc = await _webrtc_turn(peer, rtc_mic, clip)
                rtc_turns.append(rtc)
                rtc_ms.append(rtc["audible_arrival"])
                progress.advance(
                    f"ws {ws_first_chunk[-1]:.0f}/{ws_ms[-1]:.0f} ms, "
                    f"webrtc {rtc['first_packet']:.0f}/{rtc['audible_arrival']:.0f} ms "
                    "(first data / first audible)"
                )
            cpu = cpu_since(mark, pid)
    finally:
        await socket.close()
        await peer.close()
    ws, rtc_summary = summarize(ws_ms), summarize(rtc_ms)
    difference = ratio = first_difference = None
    if ws is not None and rtc_summary is not None:
        difference = round(rtc_summary.p50 - ws.p50, 1)
        ratio = round(rtc_summary.p50 / ws.p50, 3) if ws.p50 else None
    ws_first, rtc_first = summarize(ws_first_chunk), summarize([t["first_packet"] for t in rtc_turns])
    if ws_first is not None and rtc_first is not None:
        first_difference = round(rtc_first.p50 - ws_first.p50, 1)
    rtc_breakdowns = [
        {k.removeprefix("server_"): v for k, v in t.items() if k.startswith("server_")} for t in rtc_turns
    ]
    return Turns(
        websocket_first_chunk=ws_first,
        webrtc_first_packet=rtc_first,
        websocket_ms=ws_ms,
        webrtc_ms=rtc_ms,
        websocket=ws,
        webrtc=rtc_summary,
        p50_difference_ms=difference,
        ratio_p50=ratio,
        first_data_p50_difference_ms=first_difference,
        webrtc_decoded=summarize([t["audible_decoded"] for t in rtc_turns]),
        webrtc_stock_buffer=summarize(
            [t["audible_stock_buffer"] for t in rtc_turns if "audible_stock_buffer" in t]
        ),
        websocket_outside_server_ms=summarize(ws_outside),
        webrtc_outside_server_ms=summarize(
            [
                t["first_packet"] - t["server_first_byte_sent"]
                for t in rtc_turns
                if "server_first_byte_sent" in t
            ]
        ),
        websocket_breakdown_p50_ms=_p50s(ws_breakdowns),
        webrtc_breakdown_p50_ms=_p50s(rtc_breakdowns),
        websocket_onset_ms=summarize([round(a - f, 1) for a, f in zip(ws_ms, ws_first_chunk, strict=True)]),
        webrtc_onset_ms=summarize([round(t["audible_arrival"] - t["first_packet"], 1) for t in rtc_turns]),
        webrtc_turns=rtc_turns,
        websocket_turns=[
            {"first_chunk": f, "audible": a} for f, a in zip(ws_first_chunk, ws_ms, strict=True)
        ],
        websocket_breakdowns=ws_breakdowns,
        webrtc_server_first_byte_ms=summarize(
            [b["first_byte_sent"] for b in rtc_breakdowns if "first_byte_sent" in b]
        ),
        websocket_server_first_byte_ms=summarize(ws_server),
        cpu=cpu,
    )


class _IdleFleet:
    """`n` WebRTC devices streaming digital silence: one ticker feeds every microphone each 20 ms on an
    absolute schedule, and each device sends a heartbeat every `heartbeat_s` (staggered)."""

    def __init__(self, devices: list[WebRTCDevice], heartbeat_s: float) -> None:
        self.devices = devices
        self._heartbeat_s = heartbeat_s
        self._silence = bytes(2 * FRAME_SAMPLES)
        self.rtts_ms: list[float] = []
        self.unanswered = 0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._tick())]
        for i, device in enumerate(self.devices):
            offset = self._heartbeat_s * i / max(1, len(self.devices))
            self._tasks.append(asyncio.create_task(self._beat(device, offset)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _tick(self) -> None:
        start = time.perf_counter()
        frame = 0
        while True:
            for device in self.devices:
                device.microphone.put(self._silence)
            frame += 1
            await asyncio.sleep(max(0.0, start + frame * FRAME_S - time.perf_counter()))

    async def _beat(self, device: WebRTCDevice, offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            sent = time.perf_counter()
            try:
                ack = await device.heartbeat_acked(timeout=self._heartbeat_s * 5)
            except Exception:
                self.unanswered += 1
            else:
                self.rtts_ms.append(round((ack.at - sent) * 1000, 2))
            await asyncio.sleep(max(0.0, sent + self._heartbeat_s - time.perf_counter()))


async def run_idle(args: argparse.Namespace, base_url: str, token: str, pid: int) -> Idle:
    baseline_mark = cpu_mark(pid)
    await asyncio.sleep(args.window_s)
    baseline = cpu_since(baseline_mark, pid)
    async with operator_client(base_url, token) as http:
        ids = [await register_device(http, f"idle-{i}") for i in range(args.idle)]
    started = time.perf_counter()
    devices = []
    try:
        for device_id, device_token in ids:
            devices.append(await WebRTCDevice.connect(base_url, device_id, device_token))
        connect_s = time.perf_counter() - started
        fleet = _IdleFleet(devices, args.heartbeat_s)
        fleet.start()
        await asyncio.sleep(args.settle_s)
        fleet.rtts_ms.clear()
        fleet.unanswered = 0
        window_start = time.perf_counter()
        counts = [d.speaker.frames_since(window_start) for d in devices]
        mark = cpu_mark(pid)
        await asyncio.sleep(args.window_s)
        loaded = cpu_since(mark, pid)
        elapsed = time.perf_counter() - window_start
        rates = [
            (d.speaker.frames_since(window_start) - c) / elapsed for d, c in zip(devices, counts, strict=True)
        ]
        rtts, unanswered = list(fleet.rtts_ms), fleet.unanswered
        await fleet.stop()
    finally:
        for device in devices:
            await device.close()
    per_device = None
    if loaded.server_pct is not None and baseline.server_pct is not None and args.idle:
        per_device = round((loaded.server_pct - baseline.server_pct) / args.idle, 2)
    return Idle(
        devices=args.idle,
        connect_s=round(connect_s, 1),
        baseline=baseline,
        loaded=loaded,
        server_pct_per_device=per_device,
        heartbeat_rtt_ms=summarize(rtts),
        heartbeats_unanswered=unanswered,
        reply_frames_per_s=summarize(rates),
    )


async def run(
    args: argparse.Namespace, base_url: str, token: str, pid: int
) -> tuple[Turns | None, Idle | None]:
    turns = await run_turns(args, base_url, token, pid) if args.turns else None
    idle = await run_idle(args, base_url, token, pid) if args.idle else None
    return turns, idle


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = command_line("benchmarks.webrtc", argv)
    waited_s = wait_quiet(args)
    env = {**VOICE_SERVER_ENV, "COMPANION_PRESENCE_TTL_S": "600"}
    with running_server(extra_env=env, cpu_prefix=[], startup_timeout_s=STARTUP_TIMEOUT_S) as server:
        turns, idle = asyncio.run(run(args, server.base_url, server.operator_token(), server.pid))
    report = Report(
        command=command,
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT),
        server=f"started by the benchmark (pid {server.pid})",
        settings={
            "turns": args.turns,
            "warmup": args.warmup,
            "idle devices": args.idle,
            "window_s": args.window_s,
            "heartbeat_s": args.heartbeat_s,
            "waited_for_quiet_s": round(waited_s, 1),
        },
        turns=turns,
        idle=idle,
    )
    write_json(args.json, report)
    text = markdown(report)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.webrtc", description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=24, help="timed turns per transport (0: none)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed turns per transport first")
    parser.add_argument("--idle", type=int, default=50, help="idle WebRTC devices (0: no idle phase)")
    parser.add_argument("--window-s", type=float, default=30.0, help="CPU window, with and without devices")
    parser.add_argument("--settle-s", type=float, default=5.0, help="after connecting, before the window")
    parser.add_argument("--heartbeat-s", type=float, default=2.0, help="each idle device's heartbeat period")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    add_quiet_argument(parser)
    return parser
