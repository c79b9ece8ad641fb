"""Alerts and the operator event stream: how fast staff hear, how far the stream fans out, false alarms.

Three parts (`--only latency,fanout,false-positives`), each against a server the benchmark starts:

- **latency**: a device (the simulated device, a real socket) says the alert fixtures that should
  raise an alert (`audio_fixtures/alerts`: a fall, chest pain) one after another, the microphone in
  real time; timed from the end of the speech in the audio to (a) the signed webhook's arrival at a
  local receiver and (b) the `alert` event at an SSE subscriber. The voice models run, the reply is
  spoken, and the next turn waits until it has played.
- **fanout**: `--subscribers` SSE subscribers on one server (no voice models) while `--events`
  REST dialog turns each publish a `turn_finished` event: how many of the events every subscriber
  got, and the delay from the event's time stamp (`at`, set when it is emitted) to its arrival.
- **false-positives**: every ordinary fixture and human clip said over the socket (what the
  recogniser really heard, not the reference text) and the reference texts, persona lines and
  the other tests' dialog lines run through the shipped rules: alerts raised per turn / line.

    .venv/bin/python -m benchmarks.alerts --wait-quiet 300
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec

from audio_fixtures import load_manifest
from audio_fixtures.alerts import load_alert_fixtures
from audio_fixtures.human import load_human_manifest
from benchmarks.alerts.receiver import Receiver, receiving
from benchmarks.alerts.report import markdown
from benchmarks.alerts.sse import Subscriber
from benchmarks.lib.cli import command_line, finish
from benchmarks.lib.clips import Clip, load_parts
from benchmarks.lib.device import DeviceSocket, of_type, operator_client, register_device
from benchmarks.lib.machine import Machine, describe_machine
from benchmarks.lib.microphone import Microphone
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
from personas import load_library
from server.alerts.matcher import find
from server.alerts.rules import AlertRules
from server.paths import API_PREFIX

DEFAULT_OUTPUT = ROOT / "benchmarks" / "results" / "alerts.json"
PARTS = ("latency", "fanout", "false-positives")
REPLY_TIMEOUT_S = 45.0
HOOK_TIMEOUT_S = 15.0


class Latency(msgspec.Struct, kw_only=True):
    turns: int
    webhook_ms: list[float]
    stream_ms: list[float]
    webhook: Summary | None
    stream: Summary | None
    webhook_by_clip: dict[str, Summary | None]
    signatures_ok: int
    missed: int
    """Turns that should have raised an alert and brought no webhook within the wait."""
    cpu: CpuWindow


class Fanout(msgspec.Struct, kw_only=True):
    subscribers: int
    events: int
    delivered: int
    """(subscriber, event) pairs that arrived, of `subscribers * events`."""
    delay: Summary | None
    """Milliseconds from the event's `at` to its arrival at a subscriber."""
    cpu: CpuWindow


class FalsePositives(msgspec.Struct, kw_only=True):
    spoken_turns: int
    spoken_alerts: int
    spoken_fired: list[str]
    """Transcripts of ordinary speech that raised an alert (rule: words)."""
    text_lines: int
    text_fired: list[str]
    alert_fixtures: dict[str, list[str]]
    """Each alert fixture's rules raised, as heard by the recogniser."""


class Report(msgspec.Struct, kw_only=True):
    command: str
    generated_at: datetime
    machine: Machine
    settings: dict[str, object]
    latency: Latency | None = None
    fanout: Fanout | None = None
    false_positives: FalsePositives | None = None


def _voice_env(url: str, secret: str) -> dict[str, str]:
    return {
        **VOICE_SERVER_ENV,
        "COMPANION_ALERT_WEBHOOK_URLS": url,
        "COMPANION_ALERT_WEBHOOK_SECRET": secret,
        "COMPANION_ALERT_REPEAT_S": "0",
    }


async def _subscribe(
    base_url: str, token: str, params: dict[str, str]
) -> tuple[Subscriber, asyncio.Task[None]]:
    client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None), trust_env=False)
    subscriber = Subscriber()
    task = asyncio.create_task(subscriber.run(client, base_url + API_PREFIX + "/events", token, params))
    while not subscriber.connected:  # noqa: ASYNC110  # set by the reader task once the answer came
        await asyncio.sleep(0.01)
    return subscriber, task


async def _say(socket: DeviceSocket, microphone: Microphone, clip: Clip) -> tuple[float, str]:
    """Say `clip`; once its reply has played, (end of speech, what the server heard)."""
    since = socket.mark()
    utterance = await microphone.say(clip.pcm, mark_sample=clip.end_sample)
    final = await socket.wait_for(of_type("audio_response", final=True), since=since, timeout=REPLY_TIMEOUT_S)
    await socket.wait_for(
        of_type("led_control", state="listening"), since=final.index + 1, timeout=REPLY_TIMEOUT_S
    )
    heard = " ".join(m.payload["text"] for m in socket.messages[since:] if m.type == "transcript")
    return utterance.mark_at, heard


async def _latency(args: argparse.Namespace) -> tuple[Latency, FalsePositives | None]:
    secret = secrets.token_urlsafe(24)
    alert_clips = [_clip(f) for f in load_alert_fixtures()]
    raising = [c for c in alert_clips if c.name != "did_not_fall"]
    with (
        receiving(secret) as receiver,
        running_server(
            extra_env=_voice_env(receiver.url, secret), cpu_prefix=[], startup_timeout_s=STARTUP_TIMEOUT_S
        ) as server,
    ):
        token = server.operator_token()
        async with operator_client(server.base_url, token) as http:
            device_id, device_token = await register_device(http, "resident")
        subscriber, reader = await _subscribe(server.base_url, token, {"kinds": "alert"})
        socket = await DeviceSocket.connect(server.base_url, device_id, device_token)
        webhook_ms: list[float] = []
        stream_ms: list[float] = []
        by_clip: dict[str, list[float]] = {c.name: [] for c in raising}
        missed = 0
        fp: FalsePositives | None = None
        try:
            async with Microphone(socket) as microphone:
                await _say(socket, microphone, _clip(load_alert_fixtures()[0]))  # warm-up
                await _wait_hooks(receiver, 1)
                mark = cpu_mark(server.pid)
                progress = Progress(args.turns, "end of speech → webhook")
                for n in range(args.turns):
                    clip = raising[n % len(raising)]
                    before_hooks, before_events = receiver.count(), len(subscriber.seen)
                    end_at, _ = await _say(socket, microphone, clip)
                    if not await _wait_hooks(receiver, before_hooks + 1):
                        missed += 1
                        progress.advance("missed")
                        continue
                    webhook_ms.append((receiver.hooks[before_hooks].at - end_at) * 1000)
                    by_clip[clip.name].append(webhook_ms[-1])
                    if len(subscriber.seen) > before_events:
                        stream_ms.append((subscriber.seen[before_events].perf - end_at) * 1000)
                    progress.advance(f"{webhook_ms[-1]:.0f} ms")
                cpu = cpu_since(mark, server.pid)
                if "false-positives" in args.only:
                    fp = await _spoken_false_positives(args, socket, microphone, subscriber, alert_clips)
        finally:
            await socket.close()
            reader.cancel()
    latency = Latency(
        turns=args.turns,
        webhook_ms=[round(v, 1) for v in webhook_ms],
        stream_ms=[round(v, 1) for v in stream_ms],
        webhook=summarize(webhook_ms),
        stream=summarize(stream_ms),
        webhook_by_clip={name: summarize(values) for name, values in by_clip.items()},
        signatures_ok=sum(h.signature_ok for h in receiver.hooks),
        missed=missed,
        cpu=cpu,
    )
    return latency, fp


async def _wait_hooks(receiver: Receiver, count: int) -> bool:
    deadline = time.monotonic() + HOOK_TIMEOUT_S
    while receiver.count() < count:  # polled every 2 ms: the receiver is a thread of its own
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.002)
    return True


async def _spoken_false_positives(
    args: argparse.Namespace,
    socket: DeviceSocket,
    microphone: Microphone,
    subscriber: Subscriber,
    alert_clips: list[Clip],
) -> FalsePositives:
    clips = load_parts(["fixtures", "human-dev", "human-held-out"] if args.human else ["fixtures"])
    progress = Progress(len(clips) + len(alert_clips), "ordinary speech")
    fired: list[str] = []
    alerts = 0
    heard_alerts: dict[str, list[str]] = {}
    alert_names = {c.name for c in alert_clips}
    for clip in [*clips, *alert_clips]:
        before = len(subscriber.seen)
        _, heard = await _say(socket, microphone, clip)
        await asyncio.sleep(0.5)  # the check runs off the loop; give it time to publish
        raised = [s.data["rule_id"] for s in subscriber.seen[before:]]
        if clip.name in alert_names:
            heard_alerts[clip.name] = raised
        else:
            alerts += len(raised)
            fired += [f"{rule}: {heard}" for rule in raised]
        progress.advance(f"{len(raised)} alerts")
    lines = _text_corpus()
    rules = AlertRules.load(None).default
    text_fired = [f"{m.rule_id}: {line}" for line in lines for m in find(rules.rules, line, rules.variants)]
    return FalsePositives(
        spoken_turns=len(clips),
        spoken_alerts=alerts,
        spoken_fired=fired,
        text_lines=len(lines),
        text_fired=text_fired,
        alert_fixtures=heard_alerts,
    )


def _text_corpus() -> list[str]:
    lines = [entry.text for entry in load_manifest()]
    lines += [clip.transcript for clip in load_human_manifest().clips]
    for persona in load_library():
        behaviour = persona.behavior_config
        lines += [behaviour.greeting, *behaviour.offline_script.fallbacks]
        lines += [rule.reply for rule in behaviour.offline_script.rules]
    said = re.compile(r"\"(?:message|text)\": \"([^\"]{3,})\"")
    for folder in ("server", "voice", "live", "console", "pipeline"):
        for path in sorted((ROOT / "tests" / folder).glob("*.py")):
            lines += said.findall(path.read_text())
    return lines


def _clip(fixture: object) -> Clip:
    from audio_fixtures import Fixture

    assert isinstance(fixture, Fixture)
    return Clip(name=fixture.name, pcm=fixture.pcm, speech_end_s=fixture.speech_end_s, reference=fixture.text)


async def _fanout(args: argparse.Namespace) -> Fanout:
    env = {
        "COMPANION_VOICE_ENABLED": "false",
        "COMPANION_DIALOG_TURNS_PER_MINUTE": "0",
        "COMPANION_DEVICE_REQUESTS_PER_MINUTE": "0",
        "COMPANION_LOG_LEVEL": "WARNING",
    }
    with running_server(extra_env=env, cpu_prefix=[], startup_timeout_s=STARTUP_TIMEOUT_S) as server:
        token = server.operator_token()
        async with operator_client(server.base_url, token) as http:
            device_id, _ = await register_device(http, "fanout")
            subscribers = [
                await _subscribe(server.base_url, token, {"kinds": "turn_finished"})
                for _ in range(args.subscribers)
            ]
            mark = cpu_mark(server.pid)
            progress = Progress(args.events, f"events to {args.subscribers} subscribers")
            for n in range(args.events):
                response = await http.post(
                    "/dialog/send", json={"device_id": device_id, "message": f"Hello {n}"}
                )
                response.raise_for_status()
                progress.advance()
                await asyncio.sleep(args.event_interval_s)
            deadline = time.monotonic() + 10
            # Polled: 100 readers append as events arrive; a few checks a second until all have them.
            while time.monotonic() < deadline and any(len(s.seen) < args.events for s, _ in subscribers):  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            cpu = cpu_since(mark, server.pid)
        for _, task in subscribers:
            task.cancel()
    delays = [
        (seen.wall - datetime.fromisoformat(seen.data["at"]).timestamp()) * 1000
        for subscriber, _ in subscribers
        for seen in subscriber.seen
    ]
    return Fanout(
        subscribers=args.subscribers,
        events=args.events,
        delivered=sum(len(s.seen) for s, _ in subscribers),
        delay=summarize(delays),
        cpu=cpu,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = command_line("benchmarks.alerts", argv)
    waited_s = wait_quiet(args)
    report = Report(
        command=command,
        generated_at=datetime.now(UTC),
        machine=describe_machine(ROOT),
        settings={
            "turns": args.turns,
            "subscribers": args.subscribers,
            "events": args.events,
            "event_interval_s": args.event_interval_s,
            "human_clips": args.human,
            "waited_for_quiet_s": round(waited_s, 1),
        },
    )
    if "latency" in args.only or "false-positives" in args.only:
        report.latency, report.false_positives = asyncio.run(_latency(args))
    if "fanout" in args.only:
        report.fanout = asyncio.run(_fanout(args))
    return finish(args, report, markdown, markdown_file=args.markdown)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.alerts", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", type=lambda s: s.split(","), default=list(PARTS), help="latency,fanout,false-positives"
    )
    parser.add_argument("--turns", type=int, default=20, help="timed alert turns (latency)")
    parser.add_argument("--subscribers", type=int, default=100, help="SSE subscribers (fanout)")
    parser.add_argument("--events", type=int, default=50, help="events published (fanout)")
    parser.add_argument(
        "--event-interval-s", type=float, default=0.1, help="pause between two events (fanout)"
    )
    parser.add_argument("--human", action="store_true", help="also say the 28 human clips (false positives)")
    parser.add_argument("--json", type=Path, default=DEFAULT_OUTPUT, help="where the JSON goes")
    parser.add_argument("--markdown", type=Path, help="also write the Markdown report here")
    add_quiet_argument(parser)
    return parser
