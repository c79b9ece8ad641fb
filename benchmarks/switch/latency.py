"""Persona switch latency on a live session, from the operator's request to the new voice.

One device connects, streams its microphone (silence) in real time and has
one spoken turn, so the switch lands mid-session. Then, alternating between
two personas, for every switch:

  (a) `POST /devices/{id}/persona/switch`: the `switch_latency_ms` the server
      reports, and the request's round trip seen by the client;
  (b) the `persona_switch` message reaching the device;
  (c) the device's `ack` recorded: sent at once, then a heartbeat behind it
      on the same socket, whose answer means the ack has been handled (the
      server reads a socket in order); `GET /devices/{id}/commands/{command_id}`
      must then show it acked, and its `acked_at - sent_at` is kept too;
  (d) the first audio of the transition message, and the reply's final
      `audio_response` naming the new persona.

Client times run from the moment the POST was sent. The in-graph swap times
(interruption, reference swap at a frame boundary) come from
`GET /metrics/latency` (`persona_swaps`, every swap the server measured,
the unmeasured ones included). With `--during-reply` each switch is made while
the old persona is speaking a reply, and the arrival of `stop_playback` is timed.

    .venv/bin/python -m benchmarks.switch --switches 40
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from benchmarks.lib.cli import command_line, finish, ms
from benchmarks.lib.clips import load_clips
from benchmarks.lib.device import (
    DeviceError,
    DeviceSocket,
    Received,
    of_type,
    operator_client,
    register_device,
)
from benchmarks.lib.microphone import Microphone
from benchmarks.lib.progress import Progress
from benchmarks.lib.targets import (
    add_target_arguments,
    cpu_mark,
    cpu_since,
    voice_target,
    wait_quiet,
)
from benchmarks.lib.voice_link import has_audio
from benchmarks.switch.report import Switch, build_report, markdown
from benchmarks.voice.turn import NoAudioError, measure_turn

WAIT_S = 15.0
REPLY_S = 60.0
"""Long enough for a reply to be spoken in real time."""
TRANSITION = "Hello again, I'm here now."
REPLY_PROMPT = "Tell me a story about the sea."


async def run_switches(
    base_url: str, token: str, *, personas: list[str], count: int, warmup: int, during_reply: bool
) -> tuple[list[Switch], dict[str, float] | None]:
    """Make `warmup + count` switches on one live device; the switches and the server's swap summary."""
    async with operator_client(base_url, token) as http:
        device_id, device_token = await register_device(http, "switch-bench")
        device = await DeviceSocket.connect(base_url, device_id, device_token)
        try:
            async with Microphone(device) as microphone:
                await _mid_session(http, device, microphone, personas[0])
                progress = Progress(warmup + count, "switch")
                switches = []
                for number in range(warmup + count):
                    plan = Plan(number, number < warmup, personas[number % 2], personas[(number + 1) % 2])
                    switch = await _switch(http, device, plan, during_reply=during_reply)
                    switches.append(switch)
                    rest_ms, audio_ms = switch.rest_switch_latency_ms, switch.first_audio_ms
                    progress.advance(f"REST {rest_ms:g} ms, first audio {audio_ms:.0f} ms")
        finally:
            await device.close()
        metrics = (await http.get("/metrics/latency")).json()
    return switches, metrics.get("persona_swaps")


async def _mid_session(
    http: httpx.AsyncClient, device: DeviceSocket, microphone: Microphone, persona: str
) -> None:
    """One spoken turn, then onto the first persona (unmeasured): the switches land mid-session."""
    clip = load_clips()[0]
    await measure_turn(device, microphone, clip, device_number=0, turn=0, warmup=True, reply_timeout_s=WAIT_S)
    connected = device.received(of_type("connected"))[0].payload
    if connected.get("active_persona_id") != persona:
        await _switch(http, device, Plan(-1, True, "", persona), during_reply=False)


@dataclass(frozen=True)
class Plan:
    number: int
    warmup: bool
    source: str
    target: str


async def _switch(http: httpx.AsyncClient, device: DeviceSocket, plan: Plan, *, during_reply: bool) -> Switch:
    if during_reply:
        await _reply_playing(device)
    since = device.mark()
    started = time.perf_counter()
    response = await http.post(
        f"/devices/{device.device_id}/persona/switch",
        json={"target_persona_id": plan.target, "transition_message": TRANSITION, "preserve_context": True},
    )
    answered = time.perf_counter()
    if response.status_code != 200:
        raise DeviceError(f"switch to {plan.target!r} answered {response.status_code}: {response.text[:300]}")
    command = await device.wait_for(
        of_type("persona_switch", persona_id=plan.target), since=since, timeout=WAIT_S
    )
    ack_recorded, server_ack_ms = await _ack(http, device, str(command.payload["command_id"]))
    stopped = (
        await device.wait_for(of_type("stop_playback"), since=since, timeout=WAIT_S) if during_reply else None
    )
    first_audio = await _transition_audio(device, plan.target, since)
    return Switch(
        number=plan.number,
        warmup=plan.warmup,
        from_persona=plan.source,
        to_persona=plan.target,
        rest_switch_latency_ms=float(response.json()["switch_latency_ms"]),
        request_ms=ms(answered - started),
        persona_switch_received_ms=ms(command.at - started),
        ack_recorded_ms=ms(ack_recorded - started),
        server_ack_ms=server_ack_ms,
        stop_playback_received_ms=ms(stopped.at - started) if stopped else None,
        first_audio_ms=ms(first_audio - started),
    )


async def _reply_playing(device: DeviceSocket) -> None:
    """Ask for a reply by text and wait until its audio is arriving: the switch will cut it."""
    since = device.mark()
    await device.send("text_input", {"text": REPLY_PROMPT})
    await device.wait_for(has_audio, since=since, timeout=WAIT_S)


async def _ack(http: httpx.AsyncClient, device: DeviceSocket, command_id: str) -> tuple[float, float]:
    """Ack the command; when the server had handled it, and the server's own `acked_at - sent_at` in ms."""
    await device.send("ack", {"command_id": command_id, "status": "ok"})
    since = device.mark()
    await device.send("heartbeat", {})
    answered = await device.wait_for(of_type("heartbeat_ack"), since=since, timeout=WAIT_S)
    view = (await http.get(f"/devices/{device.device_id}/commands/{command_id}")).json()
    if not view.get("acked"):
        raise DeviceError(f"command {command_id} is not acked once the server has handled the ack: {view}")
    sent_at, acked_at = datetime.fromisoformat(view["sent_at"]), datetime.fromisoformat(view["acked_at"])
    return answered.at, round((acked_at - sent_at).total_seconds() * 1000, 1)


def _is_transition_audio(message: Received) -> bool:
    """Audio of a line that answers no turn (`turn_id` null): the transition message."""
    return has_audio(message) and message.payload.get("turn_id") is None


async def _transition_audio(device: DeviceSocket, persona: str, since: int) -> float:
    """When the transition's first audio arrived; its final message must name `persona`."""
    try:
        first = await device.wait_for(_is_transition_audio, since=since, timeout=WAIT_S)
        final = await device.wait_for(
            of_type("audio_response", final=True, turn_id=None), since=first.index, timeout=REPLY_S
        )
    except DeviceError as exc:
        raise NoAudioError(f"server sent no audio for the transition to {persona!r}: {exc}") from None
    if final.payload.get("persona_id") != persona:
        raise DeviceError(
            f"the transition was spoken as {final.payload.get('persona_id')!r}, not {persona!r}"
        )
    # Let it play out, so the next switch starts from a listening device.
    await device.wait_for(of_type("led_control", state="listening"), since=final.index, timeout=REPLY_S)
    return first.at


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if len(args.personas) != 2:
        raise SystemExit("--personas takes two persona ids, e.g. companion,storyteller")
    with voice_target(args) as target:
        waited_s = wait_quiet(args)
        mark = cpu_mark(target.pid)
        try:
            switches, swaps = asyncio.run(
                run_switches(
                    target.base_url,
                    target.token,
                    personas=args.personas,
                    count=args.switches,
                    warmup=args.warmup,
                    during_reply=args.during_reply,
                )
            )
        except (NoAudioError, DeviceError) as exc:
            print(f"\nFAILED: {exc}", file=sys.stderr)
            return 1
        report = build_report(
            command=command_line("benchmarks.switch", argv),
            server=target.description,
            personas=args.personas,
            during_reply=args.during_reply,
            switches=switches,
            swaps=swaps,
            cpu=cpu_since(mark, target.pid),
            waited_s=waited_s,
        )
    return finish(args, report, markdown)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.switch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_arguments(parser)
    parser.add_argument("--switches", type=int, default=20, help="measured switches (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="switches made first, not counted (default 2)")
    parser.add_argument(
        "--personas",
        type=lambda text: [p.strip() for p in text.split(",") if p.strip()],
        default=["companion", "storyteller"],
        help="the two personas to alternate between (default companion,storyteller)",
    )
    parser.add_argument(
        "--during-reply", action="store_true", help="switch while the old persona is speaking a reply"
    )
    parser.add_argument("--json", type=Path, help="write the full report (every switch) as JSON here")
    return parser
