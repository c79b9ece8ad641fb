"""Capacity answers: the largest level or step before the first one that fails, said plainly."""

from __future__ import annotations

import msgspec

from benchmarks.conversations.report import capacity_comparison, markdown
from benchmarks.idle.report import IdleReport, projected_rss_refusal
from benchmarks.idle.report import capacity_comparison as devices_comparison
from benchmarks.idle.report import markdown as devices_markdown
from tests.benchmarks import synthetic


def test_the_answer_is_the_last_level_within_the_p95_limit() -> None:
    report = synthetic.conversation_report(
        {
            1: synthetic.samples(20, 400, 900),
            2: synthetic.samples(20, 450, 1400),
            4: synthetic.samples(20, 500, 2600),
        }
    )

    assert [level.within_limit for level in report.levels] == [True, True, False]
    assert report.capacity == 2
    assert report.answer.startswith("2 simultaneous conversations keep p95 ≤ 1500 ms; at 4: p95")
    assert "**Answer: 2 simultaneous conversations" in markdown(report)


def test_every_level_within_the_limit_says_the_capacity_may_be_higher() -> None:
    report = synthetic.conversation_report({1: synthetic.samples(5, 400, 600)})

    assert report.capacity == 1
    assert "at least 1" in report.answer
    assert "may be higher" in report.answer


def test_the_capacity_ratio_to_stock_pipecat_is_stated_and_bounded_when_ours_never_failed() -> None:
    pipecat = synthetic.conversation_report(
        {1: synthetic.samples(5, 900, 1300), 2: synthetic.samples(5, 1400, 2900)}, target="pipecat"
    )
    failed_at_4 = synthetic.conversation_report(
        {2: synthetic.samples(5, 400, 900), 4: synthetic.samples(5, 1400, 2900)}
    )
    never_failed = synthetic.conversation_report({2: synthetic.samples(5, 400, 900)})
    none_kept = synthetic.conversation_report({1: synthetic.samples(5, 1400, 2900)}, target="pipecat")

    assert capacity_comparison(failed_at_4, pipecat).endswith("ratio 2x.")
    assert "ratio 2x (a lower bound" in capacity_comparison(never_failed, pipecat)
    assert "no ratio" in capacity_comparison(failed_at_4, none_kept)
    always_within = synthetic.conversation_report({1: synthetic.samples(5, 900, 1300)}, target="pipecat")
    assert "ratio 2x (an upper bound" in capacity_comparison(failed_at_4, always_within)


def test_warm_up_turns_are_counted_apart() -> None:
    report = synthetic.conversation_report({2: synthetic.samples(8, 400, 600)})

    (level,) = report.levels
    assert (level.measured_turns, level.warmup_turns) == (8, 1)
    assert level.voice_to_voice_ms is not None
    assert level.voice_to_voice_ms.max == 600.0


def test_a_speech_step_keeps_up_only_when_every_utterance_is_answered() -> None:
    report = synthetic.idle_report([1, 2], speech=True)

    assert all(step.keeps_up for step in report.steps)
    assert [step.replies for step in report.steps] == [1, 2]
    assert report.capacity == 2
    table = devices_markdown(report)
    assert "| replies | reply p50 / p90 / max (ms) |" in table
    assert "**Kept up with every step measured, up to 2 devices**" in table


def test_a_missed_reply_fails_the_step() -> None:
    from benchmarks.idle.report import step_of
    from benchmarks.idle.window import Window

    window = Window(rtts_ms=[1.0], heartbeats_sent=1, utterances=2, reply_ms=[700.0], missed_replies=1)
    step = step_of(
        devices=1,
        connect_s=0.1,
        cpu=synthetic.cpu(),
        rss_kb=1000,
        peak_rss_kb=1000,
        rss_zero_kb=900,
        window=window,
        closed=[],
        rtt_limit_ms=200.0,
        speech=True,
    )

    assert not step.keeps_up
    assert step.verdict == "FAILED: 1 of 2 utterance(s) got no reply audio in time"


def test_an_odd_late_client_tick_keeps_the_verdict_but_a_client_far_behind_makes_it_inconclusive() -> None:
    from benchmarks.idle.report import client_fell_behind
    from benchmarks.idle.window import Window

    one_hiccup = Window(ticks=1500, late_ticks=1, max_lateness_ms=21.9)
    often_late = Window(ticks=1500, late_ticks=16, max_lateness_ms=30.0)
    one_long_stall = Window(ticks=1500, late_ticks=1, max_lateness_ms=150.0)

    assert not client_fell_behind(one_hiccup)
    assert client_fell_behind(often_late)
    assert client_fell_behind(one_long_stall)


def test_stock_pipecat_keeps_up_while_its_probe_is_answered() -> None:
    steps = [synthetic.pipecat_step(1), synthetic.pipecat_step(5), synthetic.pipecat_step(10, probe_ms=None)]
    report = synthetic.pipecat_idle_report(steps)

    assert [step.keeps_up for step in steps] == [True, True, False]
    assert steps[2].verdict == "FAILED: the probe got no reply audio within 10 s"
    assert steps[0].heartbeats_sent == 0
    assert report.capacity == 5
    table = devices_markdown(report)
    assert table.startswith("## Device capacity: silence, stock pipecat")
    assert "keeping up here means" in table
    assert "| 5 | 7.5 | 1.8 | 15.0 | 3 | 976.6 | 136.7 | 1100 |" in table
    assert "**Keeps up with 5 devices**; at 10: FAILED: the probe got no reply audio" in table


def test_a_probe_reply_that_began_before_the_speech_ended_is_reported_cut_early_not_as_a_latency() -> None:
    steps = [synthetic.pipecat_step(1, probe_ms=-420.0), synthetic.pipecat_step(5)]
    table = devices_markdown(synthetic.pipecat_idle_report(steps))

    early, timed = steps[0].probe, steps[1].probe
    assert early is not None
    assert early.cut_early
    assert timed is not None
    assert not timed.cut_early
    assert steps[0].keeps_up  # it was answered in time; how it took turns is another question
    assert "| 136.7 | -420 (cut early) |" in table
    assert "| 1100 |" in table


def test_a_connection_not_opened_or_a_closed_socket_fails_a_pipecat_step_whatever_the_probe_says() -> None:
    refused = synthetic.pipecat_step(
        5, connect_failures=("TimeoutError: timed out during opening handshake",)
    )
    closed = synthetic.pipecat_step(5, closed=("closed: 1011 internal error",))

    assert refused.verdict == (
        "FAILED: 1 connection(s) not opened (TimeoutError: timed out during opening handshake)"
    )
    assert closed.verdict == "FAILED: 1 socket(s) closed (closed: 1011 internal error)"


def test_the_ladder_does_not_go_to_a_step_whose_projected_rss_is_over_the_limit() -> None:
    steps = [synthetic.pipecat_step(1, rss_per_device_kb=160_000.0), synthetic.pipecat_step(20)]

    assert projected_rss_refusal(steps, 40, 293.0, 16.0) is None
    refusal = projected_rss_refusal(steps, 120, 293.0, 16.0)
    assert refusal == (
        "the next step, 120 devices, was not run: its projected RSS, 18.6 GiB "
        "(293 MB + 156.2 MB per device x 120), exceeds the 16 GiB limit"
    )
    assert projected_rss_refusal([], 1000, 293.0, 16.0) is None
    table = devices_markdown(synthetic.pipecat_idle_report(steps, stopped=refusal))
    assert "**Kept up with every step measured, up to 20 devices**; the next step, 120 devices" in table


def test_the_device_capacity_ratio_to_stock_pipecat_is_stated_per_device_and_bounded() -> None:
    ours_failed = synthetic.idle_report([0, 1, 50, 100], slow_from=100)
    pipecat = synthetic.pipecat_idle_report([synthetic.pipecat_step(1), synthetic.pipecat_step(10, None)])

    capacity, per_device = devices_comparison(ours_failed, pipecat)
    assert capacity == "Capacity: this server 50, stock pipecat 1 idle devices kept up with: ratio 50x."
    assert per_device == (
        "Per device, at the largest step each kept up with (this server 50, stock pipecat 1): server CPU "
        "0.2 vs 3 % of a core (stock pipecat 15x), RSS 300 KB vs 136.7 MB (stock pipecat 467x)."
    )
    never_failed = synthetic.idle_report([1, 50])
    assert "(a lower bound" in devices_comparison(never_failed, pipecat)[0]


def test_an_idle_report_written_before_stock_pipecat_still_reads_as_this_servers() -> None:
    old = msgspec.to_builtins(synthetic.idle_report([0, 1]))
    for new_field in ("target", "probe_clip", "max_rss_gib", "stopped", "comparison"):
        del old[new_field]
    for step in old["steps"]:
        for new_field in ("slowest_connect_s", "connect_failures", "probe"):
            del step[new_field]

    report = msgspec.json.decode(msgspec.json.encode(old), type=IdleReport)

    assert report.target == "ours"
    assert report.steps[1].connect_failures == []
    assert devices_markdown(report).startswith("## Idle capacity")
