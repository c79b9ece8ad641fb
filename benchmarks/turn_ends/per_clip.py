"""Per clip: would the server's rule talk over the speaker, and would a stock-pipecat-like rule.

    .venv/bin/python -m benchmarks.turn_ends.per_clip benchmarks/results/turn_ends-natural.json \
        --sources human-natural

Reads the pauses a `benchmarks.turn_ends --json` report measured (Smart Turn
and transcript at every VAD pause, the labelled end of the turn) and judges
them again, offline, as `benchmarks.turn_ends.replay` does (each speaker's
clips one session, in manifest order):

- **the server's rule**: `adaptive` at today's `TurnParams` (the silences
  learned from the speaker, the unfinished verdict), and `static` (today's fixed
  silences, nothing learned);
- **stock-pipecat-like**: pipecat 1.14's defaults as `benchmarks.reference`
  runs them — the turn ends 200 ms into a pause (its VAD's `stop_secs`) when
  Smart Turn rates it complete (> 0.5), else after 3 s of silence (Smart
  Turn's `stop_secs`); no transcript. An approximation: Smart Turn's score is
  the one measured for this server (on the turn as the server's VAD reports
  the pause, 32-100 ms into it), not on pipecat's 200 ms.

A clip is talked over when some pause inside the turn lasts longer than the
silence the rule waits there; the wait is the silence waited after the true end
(plus the VAD's lag after the label). Offline: no Whisper, LLM or TTS time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

import msgspec

from benchmarks.lib.report import table
from benchmarks.turn_ends.measure import TurnEndReport
from benchmarks.turn_ends.pauses import Utterance
from benchmarks.turn_ends.replay import replay
from benchmarks.turn_ends.sweep import p90
from pipeline.graph.listen import TurnParams

PIPECAT_VAD_STOP_S = 0.2
PIPECAT_SMART_TURN_STOP_S = 3.0


class PipecatLike(msgspec.Struct, frozen=True):
    talked_over: bool
    first_cut: str
    """"gap s after 'last words'" of the first pause inside the turn that would end it; "" if none."""
    wait_s: float


def pipecat_like(utterance: Utterance) -> PipecatLike:
    """The stock-pipecat-like rule on one clip (see the module's docstring)."""
    first_cut, wait_s = "", 0.0
    for pause in utterance.pauses:
        silence_s = PIPECAT_VAD_STOP_S if pause.smart_turn > 0.5 else PIPECAT_SMART_TURN_STOP_S
        if pause.final:
            lag_s = pause.at_s - utterance.turn_end_s if utterance.turn_end_s is not None else 0.0
            wait_s = max(0.0, lag_s) + silence_s
            break
        if pause.gap_s is not None and silence_s < pause.gap_s and not first_cut:
            words = " ".join(pause.transcript.split()[-3:])
            first_cut = f"{pause.gap_s:.2f} s after '{words}'"
    return PipecatLike(talked_over=bool(first_cut), first_cut=first_cut, wait_s=wait_s)


def per_clip_markdown(utterances: Sequence[Utterance], sources: Sequence[str]) -> str:
    params = TurnParams()
    lines: list[str] = []
    for source in sources:
        mine = [u for u in utterances if u.source == source]
        if not mine:
            continue
        adaptive = replay(source, mine, params, "adaptive")
        static = replay(source, mine, params, "static")
        stock = {u.name: pipecat_like(u) for u in mine}
        waits = [s.wait_s * 1000 for s in stock.values()]
        lines += [
            f"**{source}** ({len(mine)} clips, {adaptive.sessions} sessions)",
            "",
            *table(
                [
                    "clip",
                    "longest pause inside the turn",
                    "server's rule (adaptive, today)",
                    "static (fixed silences)",
                    "stock-pipecat-like",
                ],
                (
                    [
                        f"`{u.name}`",
                        f"{max((p.gap_s or 0.0 for p in u.pauses if not p.final), default=0.0):.2f} s",
                        "**talked over**" if u.name in adaptive.talked_over_clips else "no",
                        "talked over" if u.name in static.talked_over_clips else "no",
                        f"talked over ({stock[u.name].first_cut})" if stock[u.name].talked_over else "no",
                    ]
                    for u in mine
                ),
            ),
            "",
            *table(
                ["rule", "clips talked over", "wait after the true end, p50 / p90 ms"],
                [
                    [
                        "server's rule (adaptive, today)",
                        f"{adaptive.talked_over}/{len(mine)}",
                        f"{adaptive.wait_p50_ms:g} / {adaptive.wait_p90_ms:g}",
                    ],
                    [
                        "static (fixed silences)",
                        f"{static.talked_over}/{len(mine)}",
                        f"{static.wait_p50_ms:g} / {static.wait_p90_ms:g}",
                    ],
                    [
                        "stock-pipecat-like",
                        f"{sum(s.talked_over for s in stock.values())}/{len(mine)}",
                        f"{statistics.median(waits):.0f} / {p90(waits):.0f}",
                    ],
                ],
            ),
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="a `benchmarks.turn_ends --json` report")
    parser.add_argument(
        "--sources", nargs="+", default=["human-natural"], help="sets to show (default: human-natural)"
    )
    args = parser.parse_args(argv)
    report = msgspec.json.decode(args.report.read_bytes(), type=TurnEndReport)
    print(per_clip_markdown(report.utterances, args.sources))
    return 0


if __name__ == "__main__":
    sys.exit(main())
