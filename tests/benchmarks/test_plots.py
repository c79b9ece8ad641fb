"""The plots render from tiny synthetic results in every format the benchmarks write."""

from __future__ import annotations

from pathlib import Path

from benchmarks.lib.plot_data import harness_reports, load_results
from benchmarks.lib.plots import render
from tests.benchmarks import synthetic

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def all_reports(tmp_path: Path) -> list[Path]:
    side_by_side = {
        "ours": synthetic.voice_report(target="ours"),
        "pipecat": synthetic.voice_report(target="pipecat", base_ms=1000.0),
        "comparison": {"concurrency": 1},
    }
    return [
        synthetic.write(tmp_path / "voice.json", synthetic.voice_report()),
        synthetic.write(tmp_path / "voice-c4.json", synthetic.voice_report(concurrency=4, base_ms=800.0)),
        synthetic.write(tmp_path / "voice-vs-pipecat.json", side_by_side),
        synthetic.write(tmp_path / "idle.json", synthetic.idle_report([0, 1, 50, 300])),
        synthetic.write(tmp_path / "idle-speech.json", synthetic.idle_report([1, 2, 4], speech=True)),
        synthetic.write(
            tmp_path / "idle-pipecat.json",
            synthetic.pipecat_idle_report([synthetic.pipecat_step(1), synthetic.pipecat_step(5, None)]),
        ),
        synthetic.write(
            tmp_path / "conversations.json",
            synthetic.conversation_report(
                {1: synthetic.samples(6, 400, 900), 2: synthetic.samples(6, 500, 1700)}
            ),
        ),
        synthetic.write(
            tmp_path / "conversations-both.json",
            {
                "ours": synthetic.conversation_report({1: synthetic.samples(4, 400, 900)}),
                "pipecat": synthetic.conversation_report(
                    {1: synthetic.samples(4, 900, 2000)}, target="pipecat"
                ),
            },
        ),
        synthetic.write(tmp_path / "switch.json", synthetic.switch_report()),
        synthetic.write(tmp_path / "micro.json", synthetic.micro_report()),
        synthetic.write(tmp_path / "other.json", {"hello": "world"}),
    ]


def test_every_report_gets_its_plots(tmp_path: Path) -> None:
    plots, results = render(all_reports(tmp_path), tmp_path / "plots")

    names = sorted(plot.path.name for plot in plots)
    assert names == [
        "conversations-both-capacity.png",
        "conversations-capacity.png",
        "device-capacity-vs-pipecat.png",
        "idle-capacity.png",
        "idle-pipecat-capacity.png",
        "idle-speech-capacity.png",
        "micro-timings.png",
        "switch-latency.png",
        "voice-latency.png",
        "voice-stages.png",
    ]
    for plot in plots:
        assert plot.path.read_bytes().startswith(PNG_MAGIC), plot.path
    assert [path.name for path, _ in results.skipped] == ["other.json"]


def test_voice_runs_are_labelled_by_target_and_concurrency_without_warm_up(tmp_path: Path) -> None:
    results = load_results(all_reports(tmp_path))

    labels = sorted(run.label for run in results.voice)
    assert labels == [
        "ours, 1 at once (voice)",
        "ours, 1 at once (voice-vs-pipecat)",
        "ours, 4 at once",
        "pipecat, 1 at once",
    ]
    assert all(len(run.voice_to_voice_ms) == 12 and run.warmup_turns == 1 for run in results.voice)


def test_device_capacity_runs_know_their_target(tmp_path: Path) -> None:
    results = load_results(all_reports(tmp_path))

    assert [(run.label, run.target) for run in results.devices] == [
        ("idle: digital silence", "ours"),
        ("idle-speech: speech", "ours"),
        ("idle-pipecat: digital silence, stock pipecat", "pipecat"),
    ]


def test_a_harness_report_is_found_wherever_it_sits() -> None:
    report = synthetic.voice_report()
    unlabelled = {k: v for k, v in report.items() if k != "target"}

    assert [t for _, t in harness_reports(unlabelled)] == ["ours"]
    assert [t for _, t in harness_reports({"pipecat": unlabelled})] == ["pipecat"]
    assert [t for _, t in harness_reports({"runs": [{**report, "target": "pipecat"}, report]})] == [
        "pipecat",
        "ours",
    ]


def test_conversation_capacity_reads_levels_and_limit(tmp_path: Path) -> None:
    results = load_results(all_reports(tmp_path))

    run, ours, pipecat = results.conversations
    assert (ours.target, pipecat.target) == ("ours", "pipecat")
    assert (ours.capacity, pipecat.capacity) == (1, None)
    assert [level.conversations for level in run.levels] == [1, 2]
    assert [level.within_limit for level in run.levels] == [True, False]
    assert run.capacity == 1
    assert all(len(level.voice_to_voice_ms) == 6 for level in run.levels)


def test_a_known_report_of_an_unexpected_shape_is_skipped_with_the_reason(tmp_path: Path) -> None:
    broken = synthetic.write(tmp_path / "idle.json", {"steps": [{"devices": 1}], "rss_zero_mb": 500})

    plots, results = render([broken], tmp_path / "plots")

    assert plots == []
    assert [(path.name, reason.split(":")[0]) for path, reason in results.skipped] == [
        ("idle.json", "a report of a shape this module does not read")
    ]


def test_the_turn_end_trade_off_is_drawn_from_a_sweep(tmp_path: Path) -> None:
    point = {
        "source": "human-dev",
        "confident_silence_ms": 350,
        "fallback_silence_ms": 950,
        "use_transcript": True,
        "clips": 4,
        "talked_over": 1,
        "cut_pauses": 1,
        "wait_p50_ms": 350.0,
        "wait_p90_ms": 950.0,
    }
    slower = {**point, "confident_silence_ms": 700, "talked_over": 0, "wait_p50_ms": 700.0}
    doc = {
        "tallies": {},
        "params": {"confident_silence_ms": 350, "fallback_silence_ms": 950},
        "sweep": [point, slower],
    }
    plots, results = render([synthetic.write(tmp_path / "turn_ends.json", doc)], tmp_path / "plots")
    assert [p.path.name for p in plots] == ["turn_ends-trade-off.png"]
    assert plots[0].path.read_bytes().startswith(PNG_MAGIC)
    assert [p.talk_over_rate for p in results.trade_off[0].points] == [0.25, 0.0]
